"""``analyze()``: a source built on the meta device, traced once, summed into an :class:`Analysis`.

Data flows one way: source (:mod:`.sources`) → model on meta → traced rows (:mod:`.trace`) →
:class:`~archprof.analysis.result.Analysis` (records plus totals) → renderers (:mod:`.render`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archprof.analysis import receptive
from archprof.analysis.constraints import input_constraints
from archprof.analysis.fast_meta import plain_meta_kernels
from archprof.analysis.result import Analysis
from archprof.analysis.sources import Source, build_on_meta, open_source
from archprof.analysis.trace import Trace, trace
from archprof.errors import ArchprofError
from archprof.spec.plan import propagate
from archprof.spec.registry import ShapeError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _rf_text(state: Any) -> str:
    if isinstance(state, receptive.Field):
        (h, w), (jh, jw) = state.size, state.jump
        text = f"{h}x{w} /{jh}" if (h, jh) == (w, jw) else f"{h}x{w} /{jh}x{jw}"
        return text + (" +gate" if state.gated else "")
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
            "rf_gated": isinstance(rf, receptive.Field) and rf.gated,
            "receptive_field": _rf_text(rf),
            "notes": "; ".join(r.notes),
        })
    return records


def analyze(source: Any, *, input_shape: tuple[int, ...] | None = None, batch: int = 1, dtype: str = "fp32") -> Analysis:
    """Analyse a spec (path, name or :class:`Spec`), a ``torchvision:``/``timm:``/``file.py:`` source,
    an ``nn.Module``, or a :class:`~archprof.analysis.sources.Source` already opened. Nothing is allocated: the model and its input live on the meta device."""
    if dtype not in DTYPES:
        raise ArchprofError(f"unknown dtype '{dtype}' (choose from {', '.join(DTYPES)})")
    if batch < 1:
        raise ArchprofError(f"batch must be at least 1, got {batch}")
    src = open_source(source, input_shape)
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
        "receptive_field": {"layer": last["name"], "size": list(last["rf_size"]), "jump": list(last["rf_jump"]),
                            "gated": last["rf_gated"]} if last else None,
    }
