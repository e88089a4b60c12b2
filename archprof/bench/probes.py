"""Measured peaks: the best FLOP/s of a large matmul and the best bandwidth of a large copy, beside the table's."""
from __future__ import annotations

import time
from typing import Any

import torch

from archprof.bench.devices import device_peak
from archprof.bench.env import is_cuda


def _best_seconds(op, device: torch.device, warmup: int, reps: int) -> float:
    """The fastest of ``reps`` timed calls of ``op`` after ``warmup`` untimed ones (CUDA events on a GPU)."""
    for _ in range(warmup):
        op()
    if is_cuda(device):
        torch.cuda.synchronize(device)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for start, end in events:
            start.record()
            op()
            end.record()
        torch.cuda.synchronize(device)
        return min(s.elapsed_time(e) / 1e3 for s, e in events)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        op()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_probe(device: torch.device, dtype: torch.dtype, n: int | None = None, reps: int | None = None) -> float:
    """Best achieved FLOP/s of a large square matmul (``2 n^3`` FLOPs) over a few repeats."""
    cuda = is_cuda(device)
    n = n or (8192 if cuda else 1024)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    seconds = _best_seconds(lambda: torch.mm(a, b), device, 3, reps or (30 if cuda else 8))
    return 2 * n**3 / seconds


def bandwidth_probe(device: torch.device, nbytes: int | None = None, reps: int | None = None) -> float:
    """Best achieved memory bandwidth (bytes/s) of a large device-to-device copy (read + write)."""
    cuda = is_cuda(device)
    nbytes = nbytes or ((1 << 30) if cuda else (64 << 20))
    src = torch.empty(nbytes // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    seconds = _best_seconds(lambda: dst.copy_(src), device, 2, reps or (20 if cuda else 8))
    return 2 * nbytes / seconds


def _native_bf16() -> bool:
    """bf16 in hardware (Ampere and later); newer torch also reports emulated bf16 as supported."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:   # torch before the including_emulation argument
        return bool(torch.cuda.is_bf16_supported())


def _probe_dtype(precision: str) -> torch.dtype:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def measure_peaks(device: torch.device, precision: str, with_bandwidth: bool) -> dict[str, Any]:
    """Table peak (GPU) and measured probes; ``flops`` is the denominator MFU uses."""
    out: dict[str, Any] = {"precision": precision}
    if is_cuda(device):
        name = torch.cuda.get_device_name(device)
        entry = device_peak(name)
        table = entry.tflops.get(precision) if entry else None
        out["table_entry"] = entry.name if entry else None
        out["table_source"] = entry.source if entry else None
        out["table_flops"] = table * 1e12 if table else None
        out["table_bandwidth_bytes_per_s"] = entry.bandwidth_gbs * 1e9 if entry else None
        out["measured_bf16_flops"] = matmul_probe(device, torch.bfloat16) if _native_bf16() else None
        # The probe in the run's own precision (fp32 matmul under this run's TF32 flags for fp32/tf32).
        out["measured_flops"] = out["measured_bf16_flops"] if precision == "bf16" else matmul_probe(device, _probe_dtype(precision))
        out["probe"] = f"{'8192x8192'} matmul, best of 30, CUDA events"
        out["flops"] = out["table_flops"] or out["measured_flops"]
        out["flops_basis"] = "table" if out["table_flops"] else "measured probe (device not in the table)"
    else:
        out["table_entry"] = None
        out["table_flops"] = None
        out["measured_flops"] = matmul_probe(device, torch.float32)
        out["probe"] = "1024x1024 fp32 matmul, best of 8, perf_counter"
        out["flops"] = out["measured_flops"]
        out["flops_basis"] = "measured fp32 matmul probe (no CPU table)"
    if with_bandwidth:
        out["measured_bandwidth_bytes_per_s"] = bandwidth_probe(device)
        out["bandwidth_bytes_per_s"] = out.get("table_bandwidth_bytes_per_s") or out["measured_bandwidth_bytes_per_s"]
        out["ridge_flop_per_byte"] = out["flops"] / out["bandwidth_bytes_per_s"]
    return out
