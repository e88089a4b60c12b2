"""``analyze()``: a source built on the meta device, traced once, summed into an :class:`Analysis`.

Data flows one way: source (:mod:`.sources`) → model on meta → traced rows (:mod:`.trace`) →
:class:`~archprof.analysis.result.Analysis` (records plus totals) → renderers (:mod:`.render`).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any

import torch
from torch import nn

from archprof.analysis.constraints import input_constraints
from archprof.analysis.fast_meta import plain_meta_kernels
from archprof.analysis.result import Analysis
from archprof.analysis.rows import headline_field, layer_record
from archprof.analysis.sources import Source, build_on_meta, open_source
from archprof.analysis.trace import Trace, trace
from archprof.errors import ArchprofError
from archprof.spec.plan import propagate
from archprof.spec.registry import ShapeError

MAX_BATCH = 1 << 20
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _readable_names(rows, taken: set[str]) -> list[str]:
    """Names for the rows: a module's own, and for an op called in a module's forward the module's
    name and the op's (``layer1.0.add``; ``add_1``, ``add_2`` when the forward calls it several times)."""
    def base(r) -> str:
        return f"{r.name}.{r.type.strip('_')}" if r.name else r.type.strip("_")

    counts: dict[str, int] = {}
    for r in rows:
        if r.functional:
            counts[base(r)] = counts.get(base(r), 0) + 1
    seen: dict[str, int] = {}
    names = []
    for r in rows:
        if not r.functional:
            names.append(r.name or "(model)")
            continue
        name = base(r)
        if counts[name] > 1 or name in taken:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}_{seen[name]}"
        names.append(name)
    return names


def _records(rows, taken: set[str]) -> list[dict[str, Any]]:
    return [layer_record(name, r.type, r.input_shape, r.output_shape, r.params, r.trainable_params, r.macs, r.flops,
                         r.activation_bytes, r.rf, "; ".join(r.notes))
            for r, name in zip(rows, _readable_names(rows, taken))]


def analyze(source: Any, *, input_shape: tuple[int, ...] | None = None, batch: int = 1, dtype: str = "fp32",
            input_data: Any = None) -> Analysis:
    """Analyse a spec (path, name or :class:`Spec`), a ``torchvision:``/``timm:``/``file.py:`` source,
    an ``nn.Module``, or a :class:`~archprof.analysis.sources.Source` already opened. Nothing is allocated: the model and its input live on the meta device.

    ``input_data`` gives example inputs instead of ``input_shape`` and ``batch``, as torchinfo's does:
    a tensor, a tuple of positional tensors or a dict of keyword tensors (moved to meta; their
    values are never read). A ``file.py:Factory`` source may carry them as ``Factory.example_input``,
    a function returning the same."""
    if dtype not in DTYPES:
        raise ArchprofError(f"unknown dtype '{dtype}' (choose from {', '.join(DTYPES)})")
    if not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ArchprofError(f"batch must be an integer from 1 to {MAX_BATCH}, got {batch!r}")
    src = open_source(source, input_shape)
    if input_data is None and src.example_input is not None:
        input_data = src.example_input()
    if input_data is not None:
        return _analyze_examples(src, input_data, dtype)
    if src.spec is None:
        return _analyze_source(src, input_shape, batch, dtype)
    # A spec is pure data: the same architecture analysed again (report, then verify, of the
    # same zoo) is the same analysis. Each caller gets its own copy.
    key = (src.spec.digest(), src.label, input_shape, batch, dtype)
    if key not in _ANALYSED:
        if len(_ANALYSED) >= 256:
            _ANALYSED.pop(next(iter(_ANALYSED)))
        _ANALYSED[key] = _analyze_source(src, input_shape, batch, dtype)
    return copy.deepcopy(_ANALYSED[key])


_ANALYSED: dict[tuple, Analysis] = {}


def _analyze_source(src: Source, input_shape: tuple[int, ...] | None, batch: int, dtype: str) -> Analysis:
    shape = tuple(input_shape or src.input_shape)
    with plain_meta_kernels():  # everything below runs meta forwards (non-spec sources probe sizes too)
        model = None if src.plan is not None else build_on_meta(src)
        if model is not None:
            _needs_one_input(model, src)
        con = input_constraints(src, input_shape)
        if input_shape is None and con.valid and con.analysed != shape[-1]:
            shape = (*shape[:-2], con.analysed, con.analysed)   # the default size the built model accepts
        if src.plan is not None:
            try:
                propagate(src.plan.root, (shape,), memo={})
            except ShapeError as exc:
                raise ArchprofError(f"input {'x'.join(map(str, shape))} does not fit {src.label}: {exc}; it takes {con.describe()}") from None
            model = build_on_meta(src)
        model = model.to(DTYPES[dtype]).eval()
        x = torch.empty(batch, *shape, device="meta", dtype=DTYPES[dtype])
        traced = _trace(model, x, {}, src, shape, con.describe())
    return _analysis(src, shape, batch, dtype, model, traced, con.as_dict())


def _analysis(src: Source, shape: tuple, batch: int, dtype: str, model: nn.Module, traced: Trace, constraints: dict,
              examples: list | None = None) -> Analysis:
    records = _records(traced.rows, {name for name, _ in model.named_modules()})
    return Analysis(
        source=src.label,
        input_shape=shape,
        batch=batch,
        dtype=dtype,
        records=records,
        totals=_totals(model, records, traced, DTYPES[dtype]),
        input_constraints=constraints,
        uncounted_ops=traced.uncounted,
        example_inputs=examples or [],
        module_types=traced.types,
    )


def _needs_one_input(model: nn.Module, src: Source) -> None:
    """A forward with several required inputs cannot be fed one image: say how to give them."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return
    required = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(required) > 1:
        raise ArchprofError(f"{src.label}: forward takes {len(required)} inputs ({', '.join(required)}): give example inputs, "
                            "analyze(model, input_data=(...)) in Python or an example_input function on the factory")


def _to_meta(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor):
        return torch.empty_like(value, device="meta", dtype=dtype if value.is_floating_point() else value.dtype)
    return value


def _analyze_examples(src: Source, input_data: Any, dtype: str) -> Analysis:
    """Example inputs: a tensor, a tuple of positional ones, or a dict of keyword ones."""
    if isinstance(input_data, torch.Tensor):
        args, kwargs = (input_data,), {}
    elif isinstance(input_data, (tuple, list)):
        args, kwargs = tuple(input_data), {}
    elif isinstance(input_data, dict):
        args, kwargs = (), dict(input_data)
    else:
        raise ArchprofError(f"input_data must be a tensor, a tuple or a dict of tensors, got {type(input_data).__name__}")
    tensors = [(str(k), v) for k, v in (*enumerate(args), *kwargs.items()) if isinstance(v, torch.Tensor)]
    if not tensors:
        raise ArchprofError("input_data holds no tensor")
    first = tensors[0][1]
    if first.dim() < 1:
        raise ArchprofError("the first example input needs a batch dimension")
    args = tuple(_to_meta(a, DTYPES[dtype]) for a in args)
    kwargs = {k: _to_meta(v, DTYPES[dtype]) for k, v in kwargs.items()}
    examples = [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")} for k, v in tensors]
    shape, batch = tuple(first.shape[1:]), int(first.shape[0])
    label = ", ".join(f"{e['name']}: {'x'.join(map(str, e['shape']))}" for e in examples)
    with plain_meta_kernels():
        model = build_on_meta(src).to(DTYPES[dtype]).eval()
        if len(tensors) == 1 and not kwargs and len(shape) == 3:
            con = input_constraints(src, shape)
            constraints, fits = con.as_dict(), con.describe()
        else:
            constraints = {"min_size": None, "max_size": None, "fixed_size": False, "multiple_of": None, "residues": None,
                           "description": f"not probed: the model takes several inputs ({label})", "analysed": None,
                           "probed": [], "valid": [], "probed_up_to": None}   # the keys of Constraints.as_dict()
            fits = "the example inputs' shapes"
        traced = _trace(model, args, kwargs, src, shape, fits)
    return _analysis(src, shape, batch, dtype, model, traced, constraints, examples)


def _trace(model: nn.Module, x: Any, kwargs: dict, src: Source, shape: tuple, takes: str) -> Trace:
    try:
        # eval mode: the same saved tensors as training (to 0.1% on the zoo) without the slow
        # training-mode batch-norm decomposition on meta; only dropout masks are left out
        return trace(model, x, kwargs=kwargs)
    except ArchprofError:
        raise
    except Exception as exc:  # noqa: BLE001 - the forward pass rejected the input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchprofError(f"input {'x'.join(map(str, shape))} does not fit {src.label}: {first}; it takes {takes}") from None


def _totals(model: nn.Module, records: list[dict], traced: Trace, dtype: torch.dtype) -> dict[str, Any]:
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    item = torch.empty((), dtype=dtype).element_size()
    weights = params * item + sum(b.numel() * b.element_size() for b in model.buffers())
    grads = trainable * item
    saved = traced.saved_bytes
    sgd = weights + grads + trainable * item + saved
    adamw = weights + grads + 2 * trainable * item + saved
    return {
        "params": params,
        "trainable_params": trainable,
        "macs": sum(r["macs"] for r in records),
        "flops": sum(r["flops"] for r in records),
        "activation_bytes": sum(r["activation_bytes"] for r in records),
        "input_bytes": traced.input_bytes,
        "peak_activation_bytes": traced.peak_activation_bytes,
        "weight_bytes": weights,
        "saved_activation_bytes": saved,
        "train_memory_sgd_bytes": sgd,
        "train_memory_adamw_bytes": adamw,
        "train_memory_bytes": adamw,
        "receptive_field": headline_field(records),
    }
