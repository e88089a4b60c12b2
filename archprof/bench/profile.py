"""``archprof bench --profile DIR``: a short ``torch.profiler`` run of the benchmarked step.

The trace is written by ``torch.profiler.tensorboard_trace_handler`` (Chrome trace JSON, named
``WORKER.TIMESTAMP.pt.trace.json``), which torch-tb-profiler (``tensorboard --logdir DIR``) and
Perfetto (ui.perfetto.dev) open; torch-tb-profiler itself is never imported. The handler writes
into a temporary folder inside DIR and the finished file is renamed into place, so DIR never holds
half a trace.

Next to the trace, ``WORKER.TIMESTAMP.ops.md`` summarises it:

* the top operators (CPU) or kernels (GPU) by self time, each with its kind (conv, gemm, norm, ...)
  and, where the kind maps to analyser layers, the analyser's FLOPs of that kind and their
  arithmetic intensity against the device's ridge point;
* per kind: analyser FLOPs, estimated bytes, arithmetic intensity, bound (compute or memory by the
  roofline), profiled time and achieved FLOP/s;
* per layer (eager runs): every leaf module is wrapped in a ``record_function`` range named
  ``archprof.layer::NAME`` during the profiled steps, so the analyser's per-layer FLOPs sit beside
  the measured time of the same layer (forward pass only).
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from archprof.errors import ArchprofError
from archprof.files import write_text_atomic

WAIT, WARMUP, ACTIVE = 1, 1, 3
RANGE_PREFIX = "archprof.layer::"
TOP = 20

_OP_KINDS = (
    ("conv", re.compile(r"conv|fprop|dgrad|wgrad|winograd|implicit_convolve")),
    ("gemm", re.compile(r"gemm|matmul|(^|[^a-z])(mm|addmm|bmm|baddbmm|linear)([^a-z]|$)|cublas|cutlass|xmma|attention|flash|sdpa")),
    ("norm", re.compile(r"norm|welford")),
    ("softmax", re.compile(r"softmax")),
    ("pool", re.compile(r"pool")),
    ("elementwise", re.compile(r"relu|gelu|silu|sigmoid|tanh|hardswish|hardsigmoid|(^|[^a-z])(add|mul|div|sub|clamp|mean)_?([^a-z]|$)|elementwise|vectorized|reduce")),
)


def op_kind(name: str) -> str:
    """Kind of a profiler operator or kernel name ('' when it does not map to analyser layers)."""
    low = name.lower()
    for kind, pattern in _OP_KINDS:
        if pattern.search(low):
            return kind
    return ""


def layer_kind(layer_type: str) -> str:
    """Kind of an analyser row type (Conv2d, Linear, bmm, BatchNorm2d, GELU, ...)."""
    low = str(layer_type).lower()
    if "conv" in low:
        return "conv"
    if low in ("linear", "mm", "addmm", "bmm", "baddbmm", "matmul", "einsum") or "attention" in low:
        return "gemm"
    if "norm" in low:
        return "norm"
    if "softmax" in low:
        return "softmax"
    if "pool" in low:
        return "pool"
    return "elementwise"


def _numel(shape: Any) -> int:
    if not shape:
        return 0
    if isinstance(shape[0], (tuple, list)):
        return sum(_numel(s) for s in shape)
    return math.prod(int(d) for d in shape)


def _attr(event: Any, *names: str) -> float:
    for name in names:
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def _self_us(event: Any, cuda: bool) -> float:
    return _attr(event, "self_device_time_total", "self_cuda_time_total") if cuda else _attr(event, "self_cpu_time_total")


def _total_us(event: Any, cuda: bool) -> float:
    return _attr(event, "device_time_total", "cuda_time_total") if cuda else _attr(event, "cpu_time_total")


def _is_device_event(event: Any) -> bool:
    return "CPU" not in str(getattr(event, "device_type", "DeviceType.CPU"))


def _attach_ranges(model: torch.nn.Module, names: set[str]) -> list[Any]:
    """record_function ranges around the forward of every module the analyser has rows for."""
    handles: list[Any] = []
    stack: list[Any] = []

    def pre(_module, _args, name):
        rng = torch.profiler.record_function(RANGE_PREFIX + name)
        rng.__enter__()
        stack.append(rng)

    def post(_module, _args, _out):
        if stack:
            stack.pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        if name and name in names:
            handles.append(module.register_forward_pre_hook(lambda m, a, _n=name: pre(m, a, _n)))
            handles.append(module.register_forward_hook(post))
    return handles


def _records(analysis) -> list[dict[str, Any]]:
    return analysis.records if hasattr(analysis, "records") else analysis.layers.to_dict("records")


def _layer_costs(analysis, batch: int, itemsize: int) -> dict[str, dict[str, Any]]:
    """Analyser FLOPs and estimated bytes (inputs + outputs + weights) per layer name, for ``batch``."""
    out: dict[str, dict[str, Any]] = {}
    for row in _records(analysis):
        name = str(row["name"])
        if name == "(model)":
            continue
        entry = out.setdefault(name, {"type": row["type"], "kind": layer_kind(row["type"]), "flops": 0, "bytes": 0})
        entry["flops"] += int(row["flops"]) * batch
        entry["bytes"] += itemsize * (batch * (_numel(row["input_shape"]) + _numel(row["output_shape"])) + int(row["params"]))
    return out


def _fmt(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def summarize(events: list[Any], analysis, batch: int, mode: str, itemsize: int, peak: dict[str, Any], cuda: bool) -> dict[str, Any]:
    """Tables (as lists of dicts) from the profiler's key averages and the analyser's rows."""
    factor = 3 if mode == "train" else 1
    layers = _layer_costs(analysis, batch, itemsize)
    ridge = peak.get("ridge_flop_per_byte")
    peak_flops = peak.get("flops")

    # Kinds: analyser FLOPs and bytes
    kinds: dict[str, dict[str, Any]] = {}
    for entry in layers.values():
        k = kinds.setdefault(entry["kind"], {"kind": entry["kind"], "layers": 0, "flops": 0, "bytes": 0, "self_us": 0.0})
        k["layers"] += 1
        k["flops"] += entry["flops"] * factor
        k["bytes"] += entry["bytes"] * factor

    # The CPU side of each range (its device time is the sum of the kernels launched inside it);
    # the GPU-side copies of user annotations are left out so nothing is counted twice.
    ranges = {e.key[len(RANGE_PREFIX):]: e for e in events if e.key.startswith(RANGE_PREFIX) and not _is_device_event(e)}
    ops = [e for e in events if not e.key.startswith(RANGE_PREFIX) and not e.key.startswith("ProfilerStep")
           and not e.key.startswith("[memory]")]
    if cuda:
        kernels = [e for e in ops if _is_device_event(e)]
        ops = kernels or [e for e in ops if _self_us(e, True) > 0]
    total_self = sum(_self_us(e, cuda) for e in ops) or 1.0
    for e in ops:
        kind = op_kind(e.key)
        if kind in kinds:
            kinds[kind]["self_us"] += _self_us(e, cuda)
    for k in kinds.values():
        k["ai"] = k["flops"] / k["bytes"] if k["bytes"] else None
        k["bound"] = ("compute" if k["ai"] >= ridge else "memory") if (ridge and k["ai"] is not None) else ""
        k["ms_per_step"] = k["self_us"] / ACTIVE / 1e3
        k["achieved_flops"] = k["flops"] / (k["ms_per_step"] / 1e3) if k["ms_per_step"] > 0 and k["flops"] else None
        k["pct_of_peak"] = k["achieved_flops"] / peak_flops if (k["achieved_flops"] and peak_flops) else None

    top = []
    for e in sorted(ops, key=lambda e: _self_us(e, cuda), reverse=True)[:TOP]:
        kind = op_kind(e.key)
        k = kinds.get(kind)
        top.append({
            "name": e.key,
            "calls_per_step": e.count / ACTIVE,
            "self_ms_per_step": _self_us(e, cuda) / ACTIVE / 1e3,
            "share": _self_us(e, cuda) / total_self,
            "kind": kind,
            "kind_flops_per_step": k["flops"] if k else None,
            "kind_ai": k["ai"] if k else None,
            "kind_bound": k["bound"] if k else "",
        })

    per_layer = []
    if ranges:
        inclusive = {name: _total_us(e, cuda) for name, e in ranges.items()}
        exclusive = dict(inclusive)
        for name in inclusive:   # subtract each range from its nearest ranged ancestor
            parts = name.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                parent = ".".join(parts[:cut])
                if parent in inclusive:
                    exclusive[parent] -= inclusive[name]
                    break
        for name, us in exclusive.items():
            cost = layers.get(name)
            if cost is None:
                continue
            ms = max(us, 0.0) / ACTIVE / 1e3
            achieved = cost["flops"] / (ms / 1e3) if ms > 0 and cost["flops"] else None
            ai = cost["flops"] / cost["bytes"] if cost["bytes"] else None
            per_layer.append({
                "layer": name, "type": cost["type"], "flops": cost["flops"], "ai": ai,
                "bound": ("compute" if ai >= ridge else "memory") if (ridge and ai is not None) else "",
                "ms_per_step": ms, "achieved_flops": achieved,
                "pct_of_peak": achieved / peak_flops if (achieved and peak_flops) else None,
            })
        per_layer.sort(key=lambda r: r["ms_per_step"], reverse=True)
    return {"top": top, "kinds": sorted(kinds.values(), key=lambda k: k["ms_per_step"], reverse=True),
            "layers": per_layer[:TOP], "ridge": ridge, "total_self_ms_per_step": total_self / ACTIVE / 1e3}


def to_markdown(summary: dict[str, Any], *, label: str, mode: str, batch: int, device: str, trace: Path, peak: dict[str, Any], cuda: bool, ranges: bool) -> str:
    import pandas as pd

    from archprof.text import render_frame

    ridge = summary["ridge"]
    bw = peak.get("bandwidth_bytes_per_s")
    what = "kernels" if cuda else "operators"
    lines = [
        f"# archprof profile: {label} ({mode}, batch {batch}, {device})",
        "",
        f"- trace: `{trace.name}` (Perfetto: ui.perfetto.dev; TensorBoard: `tensorboard --logdir {trace.parent}` with torch-tb-profiler)",
        f"- {ACTIVE} profiled steps after {WAIT} skipped and {WARMUP} warm-up step; times are per step "
        f"({'device' if cuda else 'CPU'} self time; {summary['total_self_ms_per_step']:.2f} ms of {what} per step)",
        f"- peak {(peak.get('flops') or 0) / 1e12:.2f} TFLOP/s ({peak.get('flops_basis', '')}) · bandwidth "
        f"{(bw or 0) / 1e9:.0f} GB/s · ridge point {_fmt(ridge, 1)} FLOP/byte",
        "- analyser FLOPs: forward FLOPs of the layers x batch (x3 for a training step); bytes: each layer's inputs, "
        "outputs and weights at the run's element size; arithmetic intensity (AI) = FLOPs / bytes. Below the ridge point "
        "a layer is memory-bound, above it compute-bound. Operator-to-layer kinds are matched by name (heuristic).",
        "",
    ]
    top = pd.DataFrame([{
        "#": i + 1, "operator" if not cuda else "kernel": r["name"][:90], "calls/step": f"{r['calls_per_step']:g}",
        "self ms/step": f"{r['self_ms_per_step']:.3f}", "share": f"{100 * r['share']:.1f}%", "kind": r["kind"],
        "analyser GFLOP/step (kind)": "" if r["kind_flops_per_step"] is None else f"{r['kind_flops_per_step'] / 1e9:.3f}",
        "AI (kind)": _fmt(r["kind_ai"], 1), "vs ridge": r["kind_bound"],
    } for i, r in enumerate(summary["top"])])
    lines.append(render_frame(top, "md", title=f"Top {what} by self time",
                              right=("#", "calls/step", "self ms/step", "share", "analyser GFLOP/step (kind)", "AI (kind)")))
    kinds = pd.DataFrame([{
        "kind": k["kind"], "layers": k["layers"], "analyser GFLOP/step": f"{k['flops'] / 1e9:.3f}",
        "est. MB/step": f"{k['bytes'] / 1e6:.1f}", "AI FLOP/B": _fmt(k["ai"], 1), "bound": k["bound"],
        "self ms/step": f"{k['ms_per_step']:.3f}",
        "achieved TFLOP/s": "" if k["achieved_flops"] is None else f"{k['achieved_flops'] / 1e12:.3g}",
        "% of peak": "" if k["pct_of_peak"] is None else f"{100 * k['pct_of_peak']:.1f}%",
    } for k in summary["kinds"]])
    lines.append(render_frame(kinds, "md", title="Analyser FLOPs by kind against profiled time",
                              right=("layers", "analyser GFLOP/step", "est. MB/step", "AI FLOP/B", "self ms/step", "achieved TFLOP/s", "% of peak")))
    if summary["layers"]:
        per_layer = pd.DataFrame([{
            "layer": r["layer"], "type": r["type"], "GFLOP": f"{r['flops'] / 1e9:.4f}", "AI FLOP/B": _fmt(r["ai"], 1),
            "bound": r["bound"], "ms/step": f"{r['ms_per_step']:.3f}",
            "achieved TFLOP/s": "" if r["achieved_flops"] is None else f"{r['achieved_flops'] / 1e12:.3g}",
            "% of peak": "" if r["pct_of_peak"] is None else f"{100 * r['pct_of_peak']:.1f}%",
        } for r in summary["layers"]])
        lines.append(render_frame(per_layer, "md", title=f"Layers by time (forward pass, own time without child layers; top {TOP})",
                                  right=("GFLOP", "AI FLOP/B", "ms/step", "achieved TFLOP/s", "% of peak")))
    elif not ranges:
        lines.append("Per-layer times are not recorded for compiled models (module hooks would break the graph).\n")
    return "\n".join(lines)


def profile_model(work, mode: str, batch: int, out_dir: Path, analysis, peak: dict[str, Any], label: str) -> dict[str, Any]:
    """Profile a few steps of ``work`` (a :class:`archprof.bench.Workload`) into ``out_dir``."""
    from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

    device = work.device
    cuda = device.type == "cuda"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchprofError(f"--profile {out_dir}: cannot create the folder ({exc.strerror})") from None
    step = work.train_step(batch) if mode == "train" else work.infer_step(batch)
    for _ in range(3):   # compile, cuDNN autotuning and allocator warm-up stay out of the trace
        step()
    if cuda:
        torch.cuda.synchronize(device)
    names = {str(r["name"]) for r in _records(analysis)} - {"(model)"}
    hooks = [] if work.compile else _attach_ranges(work.model, names)
    worker = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{label}_{mode}_b{batch}")
    tmp = Path(tempfile.mkdtemp(prefix=".archprof-trace-", dir=out_dir))
    handler = tensorboard_trace_handler(str(tmp), worker_name=worker)
    state: dict[str, Any] = {}

    def ready(prof):
        handler(prof)
        state["events"] = list(prof.key_averages())

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    try:
        with profile(activities=activities, schedule=schedule(wait=WAIT, warmup=WARMUP, active=ACTIVE, repeat=1),
                     on_trace_ready=ready, record_shapes=True) as prof:
            for _ in range(WAIT + WARMUP + ACTIVE):
                step()
                if cuda:
                    torch.cuda.synchronize(device)
                prof.step()
        traces = sorted(tmp.glob("*.pt.trace.json*"))
        if not traces or "events" not in state:
            raise ArchprofError("torch.profiler wrote no trace")
        trace = out_dir / traces[-1].name
        os.replace(traces[-1], trace)   # same file system: an atomic rename
    finally:
        for h in hooks:
            h.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    itemsize = torch.empty((), dtype=work.num.autocast or work.num.model_dtype).element_size()
    summary = summarize(state["events"], analysis, batch, mode, itemsize, peak, cuda)
    device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
    text = to_markdown(summary, label=label, mode=mode, batch=batch, device=device_name, trace=trace, peak=peak, cuda=cuda, ranges=bool(hooks))
    md_path = out_dir / (trace.name.split(".pt.trace.json")[0] + ".ops.md")
    write_text_atomic(md_path, text)
    return {"trace": str(trace), "summary": str(md_path), "mode": mode, "batch": batch, "active_steps": ACTIVE,
            "markdown": text, "top": summary["top"], "kinds": summary["kinds"], "layers": summary["layers"]}
