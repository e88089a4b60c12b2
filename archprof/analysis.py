"""``archprof analyze``: per-layer shapes, parameters, MACs/FLOPs, receptive fields, activation
memory and input-size constraints of a spec or any ``nn.Module``, computed on the meta device.

Data flows one way: source → model on meta → traced rows (:mod:`archprof.trace`) →
:class:`Analysis` (a pandas DataFrame plus totals) → renderers (:mod:`archprof.render`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from archprof import constraints as constraints_mod
from archprof import receptive
from archprof._fast_meta import plain_meta_kernels
from archprof.errors import ArchprofError
from archprof.plan import propagate
from archprof.registry import ShapeError
from archprof.sources import Source, open_source
from archprof.trace import Trace, trace

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
COLUMNS = ["name", "type", "input_shape", "output_shape", "params", "trainable_params", "macs", "flops",
           "activation_bytes", "spatial", "rf_size", "rf_jump", "receptive_field", "notes"]


@dataclass
class Analysis:
    source: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    records: list[dict[str, Any]]  # one per row; `layers` is the same as a DataFrame
    totals: dict[str, Any]
    input_constraints: dict[str, Any]
    uncounted_ops: dict[str, int] = field(default_factory=dict)

    @cached_property
    def layers(self) -> "pd.DataFrame":
        """One row per leaf module or functional op (pandas is imported on first use only)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records, columns=COLUMNS)

    def rollup(self, depth: int) -> "pd.DataFrame":
        """Rows grouped by the first ``depth`` components of their names (stages, blocks)."""
        import pandas as pd

        return pd.DataFrame.from_records(rollup(self.records, depth), columns=COLUMNS)

    def rows(self, depth: int | None = None) -> list[dict[str, Any]]:
        return self.records if depth is None else rollup(self.records, depth)

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        records = self.rows(depth)
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "dtype": self.dtype,
            "totals": self.totals,
            "input_constraints": self.input_constraints,
            "layers": [_json_row(r) for r in records],
            "uncounted_ops": self.uncounted_ops,
        }


def _json_row(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if key in ("rf_size", "rf_jump", "spatial"):
            continue
        if isinstance(value, tuple):
            value = _listify(value)
        out[key] = value
    size, jump = row.get("rf_size"), row.get("rf_jump")
    out["receptive_field"] = (
        {"size": list(size), "jump": list(jump)} if isinstance(size, tuple) else (None if row["receptive_field"] == "global" else row["receptive_field"])
    )
    return out


def _listify(value: Any) -> Any:
    return [_listify(v) for v in value] if isinstance(value, (tuple, list)) else value


def _rf_text(state: Any) -> str:
    if isinstance(state, receptive.Field):
        (h, w), (jh, jw) = state.size, state.jump
        return f"{h}x{w} /{jh}" if (h, jh) == (w, jw) else f"{h}x{w} /{jh}x{jw}"
    return state or ""


def _records(rows) -> list[dict[str, Any]]:
    records = []
    for r in rows:
        rf = r.rf
        records.append({
            "name": r.name or "(model)",
            "type": r.type,
            "input_shape": r.input_shape,
            "output_shape": r.output_shape,
            "params": r.params,
            "trainable_params": r.trainable_params,
            "macs": r.macs,
            "flops": r.flops,
            "activation_bytes": r.activation_bytes,
            "spatial": isinstance(rf, receptive.Field) and rf.dims[0] != rf.dims[1],
            "rf_size": rf.size if isinstance(rf, receptive.Field) else None,
            "rf_jump": rf.jump if isinstance(rf, receptive.Field) else None,
            "receptive_field": _rf_text(rf),
            "notes": "; ".join(r.notes),
        })
    return records


def rollup(records: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Consecutive rows that share their first ``depth`` name parts become one row."""
    groups: list[dict] = []
    for row in records:
        key = ".".join(str(row["name"]).split(".")[:depth])
        if groups and groups[-1]["name"] == key:
            g = groups[-1]
            for col in ("params", "trainable_params", "macs", "flops", "activation_bytes"):
                g[col] += row[col]
            g["output_shape"], g["rf_size"], g["rf_jump"] = row["output_shape"], row["rf_size"], row["rf_jump"]
            g["spatial"] = row["spatial"]
            g["receptive_field"] = row["receptive_field"]
            g["type"] = "group" if g["type"] != row["type"] else g["type"]
            g["notes"] = "; ".join(n for n in dict.fromkeys((g["notes"] + "; " + row["notes"]).split("; ")) if n)
        else:
            groups.append({**row, "name": key})
    return groups


def _to_meta(model: nn.Module) -> nn.Module:
    """A meta-device twin of a model with real weights, without copying the weights."""
    memo = {}
    for t in list(model.parameters()) + list(model.buffers()):
        twin = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(twin, t.requires_grad) if isinstance(t, nn.Parameter) else twin
    return copy.deepcopy(model, memo)


def _model_source(model: nn.Module, input_shape) -> Source:
    shape = tuple(input_shape or getattr(model, "input_shape", (3, 224, 224)))
    return Source(type(model).__name__, shape, lambda: model if _is_meta(model) else _to_meta(model))


def _is_meta(model: nn.Module) -> bool:
    return all(t.is_meta for t in list(model.parameters()) + list(model.buffers()))


def analyze(source: Any, *, input_shape: tuple[int, ...] | None = None, batch: int = 1, dtype: str = "fp32") -> Analysis:
    """Analyse a spec (path, name or :class:`Spec`), a ``torchvision:``/``timm:``/``file.py:`` source,
    or an ``nn.Module``. Nothing is allocated: the model and its input live on the meta device."""
    if dtype not in DTYPES:
        raise ArchprofError(f"unknown dtype '{dtype}' (choose from {', '.join(DTYPES)})")
    if batch < 1:
        raise ArchprofError(f"batch must be at least 1, got {batch}")
    if isinstance(source, nn.Module):
        src = _model_source(source, input_shape)
    else:
        src = open_source(source)
    shape = tuple(input_shape or src.input_shape)
    with plain_meta_kernels():  # everything below runs meta forwards (non-spec sources probe sizes too)
        con = input_constraints(src)
        if src.plan is not None:
            try:
                propagate(src.plan.root, (shape,), memo={})
            except ShapeError as exc:
                raise ArchprofError(f"input {'x'.join(map(str, shape))} does not fit {src.label}: {exc}; it takes {con.describe()}") from None
        model = build_on_meta(src).to(DTYPES[dtype]).eval()
        x = torch.empty(batch, *shape, device="meta", dtype=DTYPES[dtype])
        traced = _trace(model, x, src, shape, con)
    records = _records(traced.rows)
    return Analysis(
        source=src.label,
        input_shape=shape,
        batch=batch,
        dtype=dtype,
        records=records,
        totals=_totals(model, records, traced, DTYPES[dtype]),
        input_constraints=con.as_dict(),
        uncounted_ops=traced.uncounted,
    )


def _trace(model: nn.Module, x: torch.Tensor, src: Source, shape: tuple, con) -> Trace:
    try:
        # eval mode: the same saved tensors as training (to 0.1% on the zoo) without the slow
        # training-mode batch-norm decomposition on meta; only dropout masks are left out
        return trace(model, x)
    except ArchprofError:
        raise
    except Exception as exc:  # noqa: BLE001 - the forward pass rejected the input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchprofError(f"input {'x'.join(map(str, shape))} does not fit {src.label}: {first}; it takes {con.describe()}") from None


def _totals(model: nn.Module, records: list[dict], traced: Trace, dtype: torch.dtype) -> dict[str, Any]:
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    item = torch.empty((), dtype=dtype).element_size()
    weights = params * item + sum(b.numel() * b.element_size() for b in model.buffers())
    grads = trainable * item
    spatial = [r for r in records if r["rf_size"] is not None and r["spatial"]]
    last = spatial[-1] if spatial else None
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
        "receptive_field": {"layer": last["name"], "size": list(last["rf_size"]), "jump": list(last["rf_jump"])} if last else None,
    }


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


def input_constraints(src: Source) -> constraints_mod.Constraints:
    """Sizes the built model accepts, probed from the plan (specs) or by meta forwards (modules)."""
    channels, declared = src.input_shape[0], src.input_shape[-1]
    if src.plan is not None:
        memo: dict = {}

        def probe(size: int) -> str | None:
            try:
                propagate(src.plan.root, ((channels, size, size),), memo=memo)
                return None
            except ShapeError as exc:
                return str(exc)

        return constraints_mod.derive(probe, declared)
    return constraints_mod.derive_by_forward(src, channels, declared)
