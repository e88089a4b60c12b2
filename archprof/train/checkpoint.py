"""Checkpoints and weight files.

A checkpoint is ONE safetensors file: the model's tensors under ``model.``, optimizer state under
``optim.``, EMA weights under ``ema.``, RNG state under ``rng.``, and a JSON document in the
header's metadata (spec name and hash, data, epoch, metrics, history, config, versions). One file
written atomically (temporary file + rename) means a killed run never leaves a checkpoint whose
parts disagree. Weight files are read without ever executing code: safetensors, or
``torch.load(weights_only=True)``, which refuses pickles that would run code.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archprof.errors import ArchprofError
from archprof.files import write_bytes_atomic

META_KEY = "archprof"


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    from safetensors.torch import save

    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_bytes_atomic(path, save(data, metadata={META_KEY: json.dumps(meta, default=str)}))


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata of a checkpoint or weight file (safetensors or a weights-only pickle)."""
    path = Path(path)
    if path.is_dir():
        raise ArchprofError(f"{path}: is a folder, not a weights file")
    if not path.is_file():
        raise ArchprofError(f"{path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(8)
    if _is_safetensors(path, magic):
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        except Exception as exc:  # noqa: BLE001 - a corrupt file is a user error
            raise ArchprofError(f"{path}: not a readable safetensors file ({exc})") from None
    import warnings

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; we say it in one line
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ArchprofError(f"{path}: {_why_refused(path, magic)}") from None
    except Exception as exc:  # noqa: BLE001
        raise ArchprofError(f"{path}: not a weights file ({type(exc).__name__}: neither safetensors nor a torch checkpoint)") from None
    obj = unwrapped(obj)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ArchprofError(f"{path}: expected a state_dict of tensors")
    return dict(obj), {}


#: Where training scripts keep the weights inside a checkpoint, in timm's order of preference
#: (the EMA weights are the ones published).
WRAPPERS = ("state_dict_ema", "model_ema", "state_dict", "model")
#: Prefixes of DistributedDataParallel and torch.compile wrappers.
PREFIXES = ("module.", "_orig_mod.")


def unwrapped(obj):
    """The state_dict inside a training checkpoint, without DDP or compile prefixes."""
    if isinstance(obj, dict):
        inner = next((obj[k] for k in WRAPPERS if isinstance(obj.get(k), dict) and obj[k]), None)
        obj = inner if inner is not None else obj
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj):
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in obj):
                obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


#: Modules whose globals a weights-only file may name (tensor rebuilding, containers).
SAFE_GLOBALS = ("torch", "collections", "numpy.core.multiarray", "numpy", "builtins.set", "_codecs")


def _why_refused(path: Path, magic: bytes) -> str:
    """Why torch's weights-only loader refused a file: code it would run, or not a checkpoint at all."""
    import pickletools
    import zipfile

    if magic[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(name) if name else b""
        except (zipfile.BadZipFile, OSError):
            return "not a weights file (a damaged zip archive)"
    elif magic[:1] == b"\x80":
        data = path.read_bytes()
    else:
        return "not a weights file (neither safetensors nor a torch checkpoint)"
    calls, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(str(arg))
            if op.name == "GLOBAL":
                calls.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                calls.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # noqa: BLE001 - a truncated or garbled pickle
        return "not a weights file (a damaged pickle)"
    unsafe = [c for c in calls if not c.startswith(SAFE_GLOBALS)]
    if unsafe:
        return f"refused: loading this pickle would run code ({', '.join(dict.fromkeys(unsafe[:3]))}); weights are loaded without running code"
    return "refused: this pickle holds objects other than tensors, which weights-only loading does not build"


def _is_safetensors(path: Path, magic: bytes) -> bool:
    if path.suffix == ".safetensors":
        return True
    if len(magic) < 8:
        return False
    header = int.from_bytes(magic, "little")
    return 0 < header < 100_000_000 and path.stat().st_size >= 8 + header


def model_state(tensors: dict[str, torch.Tensor], prefix: str = "model.") -> dict[str, torch.Tensor]:
    """The model's tensors from a checkpoint (prefixed) or a plain state_dict file."""
    if any(k.startswith(prefix) for k in tensors):
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return tensors


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load a state_dict, refusing with one message per mismatching tensor."""
    ours = model.state_dict()
    # Files saved before PyTorch 1.0 (many published ones) have no batch-norm step counters, which
    # evaluation never reads; torch's own loader fills them in the same way.
    tensors = {**{k: v for k, v in ours.items() if k.endswith(".num_batches_tracked") and k not in tensors}, **tensors}
    problems = [f"{k}: missing" for k in ours if k not in tensors]
    problems += [f"{k}: not in the model" for k in tensors if k not in ours]
    problems += [f"{k}: shape {tuple(tensors[k].shape)} in the file, {tuple(ours[k].shape)} in the model"
                 for k in ours if k in tensors and tensors[k].shape != ours[k].shape]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise ArchprofError(f"{source}: weights do not fit the spec: {shown}")
    model.load_state_dict(tensors)


def versions() -> dict[str, str]:
    import platform

    import torchvision

    out = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__}
    try:
        import archprof

        out["archprof"] = archprof.__version__
    except Exception:  # noqa: BLE001
        pass
    return out
