"""What ``archprof analyze SOURCE`` can analyse, each built on the meta device.

* a spec path or bundled spec name — data only, never runs code;
* ``torchvision:NAME`` and ``timm:NAME`` — the library's model with random (meta) weights;
* ``path/to/file.py:NAME`` — a class or factory in the user's own file. This imports and runs
  that file, exactly as ``python file.py`` would: only use it on code you trust;
* an ``nn.Module`` instance (the Python API), analysed through a meta-device twin.

Opening a source imports no torch; building one (:func:`build_on_meta`) does.
"""
from __future__ import annotations

import copy
import difflib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from archprof._lazy import nn, torch
from archprof.errors import ArchprofError
from archprof.spec import Spec, load_spec

DEFAULT_INPUT = (3, 224, 224)


@dataclass
class Source:
    label: str
    input_shape: tuple[int, ...]
    build: Callable[[], Any]   # builds the nn.Module under the caller's device context
    spec: Spec | None = None
    plan: Any = None
    module: Any = None         # the user's nn.Module instance, for a module source (never modified)
    example_input: Callable[[], Any] | None = None  # a file.py factory's example inputs (tensor, tuple or dict)


def is_spec(source: Any) -> bool:
    """Whether a source names a spec (and so can be opened without torch)."""
    if isinstance(source, Spec):
        return True
    if not isinstance(source, (str, Path)):
        return False
    text = str(source)
    prefix, _, rest = text.partition(":")
    return not (prefix in ("torchvision", "timm") and rest) and ".py:" not in text and not text.endswith(".py")


def open_source(source: "str | Path | Spec | Source | nn.Module", input_shape: tuple[int, ...] | None = None) -> Source:
    """Parse SOURCE and prepare (not yet build) the model; ``input_shape`` is the default input of a module."""
    if isinstance(source, Source):
        return source
    if isinstance(source, Spec):
        return _spec_source(source)
    if not isinstance(source, (str, Path)):
        if isinstance(source, nn.Module):
            return model_source(source, input_shape)
        raise ArchprofError(f"cannot analyse a {type(source).__name__}: give a spec, a source string or an nn.Module")
    text = str(source)
    prefix, _, rest = text.partition(":")
    if prefix in ("torchvision", "timm") and rest:
        return _torchvision(rest) if prefix == "torchvision" else _timm(rest)
    if ".py:" in text or text.endswith(".py"):
        return _python_file(text)
    return _spec_source(load_spec(text))


def _spec_source(spec: Spec) -> Source:
    from archprof.spec.plan import resolve

    plan = resolve(spec)   # pure Python: a spec's mistakes are reported before torch is imported

    def build():
        from archprof.spec.compiler import compile_plan

        return compile_plan(plan, device=None)

    return Source(spec.name, plan.input_shape, build, spec, plan)


def _torchvision(name: str) -> Source:
    import torchvision

    models = torchvision.models.list_models()
    if name not in models:
        hint = difflib.get_close_matches(name, models, 3)
        raise ArchprofError(f"torchvision has no model '{name}'" + (f" (did you mean {', '.join(hint)}?)" if hint else ""))
    shape = DEFAULT_INPUT
    try:
        crop = torchvision.models.get_model_weights(name).DEFAULT.transforms().crop_size[0]
        shape = (3, crop, crop)
    except Exception:  # noqa: BLE001 - models without weights keep the default size
        pass
    return Source(f"torchvision:{name}", shape, lambda: torchvision.models.get_model(name, weights=None))


def _timm(name: str) -> Source:
    try:
        import timm
    except ImportError:
        raise ArchprofError("timm is not installed (pip install timm)") from None
    if not timm.is_model(name):
        hint = difflib.get_close_matches(name, timm.list_models(), 3)
        raise ArchprofError(f"timm has no model '{name}'" + (f" (did you mean {', '.join(hint)}?)" if hint else ""))
    shape = tuple(timm.get_pretrained_cfg_value(name, "input_size") or DEFAULT_INPUT)
    return Source(f"timm:{name}", shape, lambda: timm.create_model(name, pretrained=False))


def _python_file(text: str) -> Source:
    path_text, _, attr = text.rpartition(":") if ".py:" in text else (text, "", "")
    path = Path(path_text)
    if path.is_dir():
        raise ArchprofError(f"{path}: is a folder, not a Python file")
    if not path.is_file():
        raise ArchprofError(f"{path}: no such file")
    if not attr:
        raise ArchprofError(f"{text}: name the class or factory to build, as {path}:ClassName")
    module_name = f"_archprof_user_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ArchprofError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's code failed or exited (sys.exit): one line
        raise ArchprofError(f"{path}: importing it raised {type(exc).__name__}: {exc}" if str(exc) else
                            f"{path}: importing it raised {type(exc).__name__}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ArchprofError(f"{path}: has no class or function named '{attr}'")
    shape = tuple(getattr(factory, "input_shape", DEFAULT_INPUT))

    def build():
        try:
            model = factory()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - sys.exit in the user's factory too
            raise ArchprofError(f"{text}: calling it raised {type(exc).__name__}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise ArchprofError(f"{text}: returned {type(model).__name__}, not a torch.nn.Module")
        return model

    example = getattr(factory, "example_input", None)
    return Source(text, shape, build, example_input=_guarded(text, example) if callable(example) else None)


def _guarded(text: str, function: Callable[[], Any]) -> Callable[[], Any]:
    def call():
        try:
            return function()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - the user's function failed: one line
            raise ArchprofError(f"{text}: example_input raised {type(exc).__name__}: {exc}") from None

    return call


def _to_meta(model: nn.Module) -> nn.Module:
    """A meta-device twin of a model with real weights, without copying the weights."""
    memo = {}
    for t in list(model.parameters()) + list(model.buffers()):
        twin = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(twin, t.requires_grad) if isinstance(t, nn.Parameter) else twin
    return copy.deepcopy(model, memo)


def model_source(model: nn.Module, input_shape) -> Source:
    shape = tuple(input_shape or getattr(model, "input_shape", (3, 224, 224)))
    return Source(type(model).__name__, shape, lambda: model if _is_meta(model) else _to_meta(model), module=model)


def _is_meta(model: nn.Module) -> bool:
    return all(t.is_meta for t in list(model.parameters()) + list(model.buffers()))


def build_on_meta(src: Source) -> nn.Module:
    """Build with every tensor on the meta device.

    Most models build under ``torch.device("meta")``. A few compute their layer sizes with
    tensors while being constructed (torchvision's RegNet); for those, construction runs on the
    CPU and each parameter and buffer is moved to meta as it is registered (accelerate's
    ``init_empty_weights`` trick), so weights exist only one tensor at a time.
    """
    try:
        with torch.device("meta"):
            return src.build()
    except ArchprofError:
        raise
    except Exception:  # noqa: BLE001 - retry the slower way below
        pass
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter_on_meta(module, name, param):
        if param is not None:
            param = nn.Parameter(param.to("meta"), param.requires_grad)
        register_parameter(module, name, param)

    def buffer_on_meta(module, name, tensor, persistent=True):
        register_buffer(module, name, tensor.to("meta") if tensor is not None else None, persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
    try:
        return src.build()
    except ArchprofError:
        raise
    except Exception as exc:  # noqa: BLE001 - a model that cannot be built at all
        raise ArchprofError(f"{src.label}: cannot be built: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer
