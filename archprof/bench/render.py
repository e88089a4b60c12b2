"""A benchmark result as a terminal table with its fingerprint, markdown, CSV or JSON."""
from __future__ import annotations

from typing import Any

from archprof.bench.options import BenchResult
from archprof.text import human


def _tflops(v: float | None) -> str:
    return "" if v is None else f"{v / 1e12:.2f}" if v >= 1e11 else f"{v / 1e12:.4f}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _rows(result: BenchResult) -> list[dict[str, Any]]:

    rows = []
    for run in result.runs:
        rows.append({
            "mode": run["mode"] + (" (saturation)" if run.get("saturation_batch") else ""),
            "batch": run["batch"],
            "images/s": f"{run['images_per_s']:.1f}",
            "p10-p90": f"{run['images_per_s_p10']:.1f}-{run['images_per_s_p90']:.1f}",
            "step ms": f"{run['step_ms']:.2f}",
            "FLOP/s": human(run["achieved_flops"], "FLOP/s"),
            "MFU": _pct(run["mfu"]),
            "peak memory": human(run["peak_memory_bytes"], "B") if run["peak_memory_bytes"] is not None else "n/a",
            "compile s": "" if run["compile_s"] is None else f"{run['compile_s']:.1f}",
        })
    return rows


def footer(result: BenchResult) -> list[str]:

    fp, peak = result.fingerprint, result.peak
    lines = [f"source {result.source} · input {'x'.join(map(str, result.input_shape))} · "
             f"{human(result.macs_per_image)} MACs/image · {fp['precision']} ({fp['numerics']}) · "
             f"{fp['memory_format']} · compile {fp['compile'] or 'off'} · protocol {fp['protocol']}"]
    if fp["device_type"] == "cuda":
        lines.append(f"device {fp['device']} (sm {fp['compute_capability']}) · driver {fp['driver']} · CUDA {fp['cuda']} · "
                     f"cuDNN {fp['cudnn']} · torch {fp['torch']} · TF32 matmul {fp['matmul_allow_tf32']} cudnn {fp['cudnn_allow_tf32']}")
        lines.append(f"peak {fp['precision']}: table {_tflops(peak['table_flops']) or 'n/a'} TFLOP/s ({peak['table_entry'] or 'not in table'})"
                     f" · measured {_tflops(peak['measured_flops'])} · measured bf16 {_tflops(peak.get('measured_bf16_flops'))} TFLOP/s"
                     f" · MFU basis: {peak['flops_basis']}")
    else:
        lines.append(f"device {fp['device']} · {fp['threads']} threads · torch {fp['torch']}")
        lines.append(f"peak: measured fp32 matmul {human(peak['measured_flops'], 'FLOP/s')} (MFU basis)")
    if result.latency:
        lat = result.latency
        lines.append(f"latency at batch 1: p50 {lat['p50_ms']:.2f} ms · p90 {lat['p90_ms']:.2f} ms")
    for mode, points in result.sweeps.items():
        text = ", ".join(f"{p['batch']}: {p['images_per_s']:.0f}" for p in points)
        sat = next(p["batch"] for p in points if p["saturation"])
        lines.append(f"{mode} sweep (batch: images/s) {text} · saturation batch {sat}")
    if result.profile:
        lines.append(f"profile: trace {result.profile['trace']} · summary {result.profile['summary']}")
    lines += result.notes
    return lines


def render(result: BenchResult, fmt: str) -> str:
    import json

    import pandas as pd

    from archprof.text import render_frame, rich_table

    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, default=str) + "\n"
    if fmt == "csv":
        records = []
        base = {"source": result.source, "device": result.fingerprint["device"], "precision": result.fingerprint["precision"],
                "memory_format": result.fingerprint["memory_format"], "compile": result.fingerprint["compile"],
                "protocol": result.fingerprint["protocol"], "torch": result.fingerprint["torch"],
                "cuda": result.fingerprint.get("cuda"), "cudnn": result.fingerprint.get("cudnn"), "driver": result.fingerprint.get("driver")}
        keys = ("mode", "batch", "images_per_s", "images_per_s_p10", "images_per_s_p90", "step_ms", "achieved_flops", "mfu",
                "mfu_vs_measured", "peak_memory_bytes", "compile_s", "steps")
        for run in result.runs:
            records.append({"kind": "run", **base, **{k: run.get(k) for k in keys}})
        for points in result.sweeps.values():
            for p in points:
                records.append({"kind": "sweep", **base, **{k: p.get(k) for k in keys}})
        if result.latency:
            records.append({"kind": "latency", **base, "mode": "infer", "batch": 1, "step_ms": result.latency["p50_ms"],
                            "step_ms_p90": result.latency["p90_ms"]})
        return pd.DataFrame.from_records(records).to_csv(index=False)
    frame = pd.DataFrame.from_records(_rows(result))
    right = ("batch", "images/s", "p10-p90", "step ms", "FLOP/s", "MFU", "peak memory", "compile s")
    if fmt == "md":
        lines = "\n".join(f"- {line}" for line in footer(result))
        return f"## archprof bench {result.source}\n\n{lines}\n\n" + render_frame(frame, "md", right=right)
    return rich_table(frame, f"archprof bench {result.source}", right, footer=footer(result))
