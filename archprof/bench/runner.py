"""The benchmark itself: each mode at its batch size (or a sweep to saturation), latency, MFU and profile."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from archprof.bench import fit
from archprof.bench.env import fingerprint, is_cuda, numerics, precision_flags, resolve_device, sync
from archprof.bench.memory import PeakMemory, is_oom, release_memory
from archprof.bench.options import (
    COMPILE_MODES,
    CPU_SCHEDULE,
    DEFAULT_BATCH,
    GPU_SCHEDULE,
    MODES,
    PRECISIONS,
    TIMM_BATCH,
    TIMM_SCHEDULE,
    BenchOptions,
    BenchResult,
    Schedule,
)
from archprof.bench.probes import measure_peaks
from archprof.bench.timing import time_steps
from archprof.bench.workload import Workload, build_workload
from archprof.errors import ArchprofError


def _reset_compile() -> None:
    """Forget compiled graphs, so the next torch.compile compiles afresh (and is timed as such)."""
    import torch._dynamo

    torch._dynamo.reset()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def measure(work: Workload, mode: str, batch: int, schedule: Schedule, *, per_step_sync: bool) -> dict[str, Any]:
    """One mode at one batch size: compile (timed apart), warm-up, timed steps, peak memory."""
    device = work.device
    with PeakMemory(device) as mem:
        step = work.train_step(batch) if mode == "train" else work.infer_step(batch)
        compile_s = None
        if work.compile:
            t = time.perf_counter()
            try:
                step()
                sync(device)
            except Exception as exc:  # noqa: BLE001
                if is_oom(exc):
                    raise
                raise ArchprofError(f"torch.compile ({work.compile}) failed: {type(exc).__name__}: {_first_line(exc)}") from None
            compile_s = time.perf_counter() - t
        timing = time_steps(step, device, schedule, per_step_sync=per_step_sync)
        timing.compile_s = compile_s
        memory = mem.result()
    del step
    if mode == "train":   # gradients would otherwise stay allocated into the next measurement
        for p in work.model.parameters():
            p.grad = None
    return {"mode": mode, "batch": batch, **timing.summary(batch), **memory}


def _mfu(run: dict[str, Any], flops_per_image: int, peak: dict[str, Any]) -> None:
    factor = 3 if run["mode"] == "train" else 1   # backward costs about twice the forward
    achieved = run["images_per_s"] * flops_per_image * factor
    run["achieved_flops"] = achieved
    run["mfu"] = achieved / peak["flops"] if peak.get("flops") else None
    run["mfu_vs_measured"] = achieved / peak["measured_flops"] if peak.get("measured_flops") else None


def sweep(work: Workload, mode: str, schedule: Schedule, totals: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """Powers of two until out of memory or throughput stops growing (two doublings under +5%)."""
    device = work.device
    batch = 2 if mode == "train" else 1   # batch norm cannot train on one image
    cap = 4096 if is_cuda(device) else 256
    budget = (fit.free_bytes(device) or 0) // 2 if not is_cuda(device) else None
    points: list[dict[str, Any]] = []
    flat = 0
    while batch <= cap:
        if budget and fit.estimate(totals, mode, batch) > budget:
            notes.append(f"{mode} sweep stopped before batch {batch}: the analyser estimates more than half the free RAM")
            break
        if work.compile:
            _reset_compile()   # a fresh compile per batch: no recompile limit, no dynamic shapes
        point = None
        try:
            point = measure(work, mode, batch, schedule, per_step_sync=False)
        except Exception as exc:  # noqa: BLE001
            if not is_oom(exc):
                raise
        if point is None:   # out of memory; freed here, once the exception's frames are gone
            for p in work.model.parameters():
                p.grad = None
            release_memory(device)
            notes.append(f"{mode} sweep: out of memory at batch {batch}")
            break
        best = max((p["images_per_s"] for p in points), default=0.0)
        flat = flat + 1 if point["images_per_s"] < 1.05 * best else 0
        points.append(point)
        release_memory(device)
        if flat >= 2:
            break
        batch *= 2
    if not points:
        raise ArchprofError(f"{mode}: even the smallest batch does not fit on {device}")
    best = max(p["images_per_s"] for p in points)
    saturation = next(p["batch"] for p in points if p["images_per_s"] >= 0.95 * best)
    for p in points:
        p["saturation"] = p["batch"] == saturation
    return points


def _resolve_input(src, opts: BenchOptions) -> tuple[int, ...]:
    if opts.input_shape:
        return tuple(opts.input_shape)
    shape = tuple(src.input_shape)
    if opts.timm_compat and src.label.startswith("timm:"):
        # timm's benchmark.py resolves the data config with use_test_size=True
        import timm

        name = src.label.split(":", 1)[1]
        test = timm.get_pretrained_cfg_value(name, "test_input_size")
        if test:
            shape = tuple(test)
    return shape


def _batch(opts: BenchOptions, device: torch.device) -> int | str:
    b = opts.batch_size
    if b is None:
        return TIMM_BATCH if opts.timm_compat else DEFAULT_BATCH["cuda" if is_cuda(device) else "cpu"]
    if isinstance(b, str):
        if b != "auto":
            raise ArchprofError(f"--batch-size must be a positive integer or 'auto', got '{b}'")
        return b
    if b < 1:
        raise ArchprofError(f"--batch-size must be a positive integer or 'auto', got {b}")
    return int(b)


def run_bench(source: Any, opts: BenchOptions) -> BenchResult:
    """Benchmark a spec, ``torchvision:``/``timm:`` source or spec object; see the module doc."""
    from archprof.analysis import analyze
    from archprof.analysis.sources import open_source

    if opts.precision not in PRECISIONS:
        raise ArchprofError(f"--precision must be one of {', '.join(PRECISIONS)}, got '{opts.precision}'")
    if opts.mode not in MODES:
        raise ArchprofError(f"--mode must be one of {', '.join(MODES)}, got '{opts.mode}'")
    if opts.compile and opts.compile not in COMPILE_MODES:
        raise ArchprofError(f"--compile mode must be one of {', '.join(COMPILE_MODES)}, got '{opts.compile}'")
    device = resolve_device(opts.device)
    batch = _batch(opts, device)
    num = numerics(opts.precision, device, opts.timm_compat)
    if opts.profile_dir is not None and Path(opts.profile_dir).exists() and not Path(opts.profile_dir).is_dir():
        raise ArchprofError(f"--profile {opts.profile_dir}: exists and is not a folder")
    src = open_source(source)
    shape = _resolve_input(src, opts)
    analysis = analyze(source, input_shape=shape, batch=1)
    macs = int(analysis.totals["macs"])
    schedule = opts.schedule or (TIMM_SCHEDULE if opts.timm_compat else GPU_SCHEDULE if is_cuda(device) else CPU_SCHEDULE)
    modes = ["infer", "train"] if opts.mode == "both" else [opts.mode]
    notes: list[str] = []

    if batch != "auto":   # before anything is built (sweeps stop on their own)
        for mode in modes:
            fit.check_fits(analysis.totals, mode, batch, device, f"benchmarking {src.label} ({mode})")
    with precision_flags(opts.precision, device, opts.timm_compat):
        fp = fingerprint(device, opts, num, batch)
        peak = measure_peaks(device, opts.precision, with_bandwidth=opts.profile_dir is not None)
        work = build_workload(src, device, shape, opts, num)
        result = BenchResult(src.label, shape, fp, macs, 2 * macs, peak, notes=notes)
        result.fingerprint["schedule"] = schedule.as_dict()
        for mode in modes:
            if batch == "auto":
                points = sweep(work, mode, schedule, analysis.totals, notes)
                for p in points:
                    _mfu(p, result.flops_per_image, peak)
                result.sweeps[mode] = points
                run = dict(next(p for p in points if p["saturation"]))
                run["saturation_batch"] = run["batch"]
            else:
                if work.compile:
                    _reset_compile()
                try:
                    run = measure(work, mode, batch, schedule, per_step_sync=opts.timm_compat)
                except Exception as exc:  # noqa: BLE001
                    if is_oom(exc):
                        raise ArchprofError(f"{mode}: out of memory at batch {batch} on {fp['device']}; "
                                            f"use a smaller --batch-size or --batch-size auto") from None
                    raise
                _mfu(run, result.flops_per_image, peak)
            if opts.timm_compat:
                run["timm_samples_per_sec"] = run["images_per_s_wall"]
            result.runs.append(run)
            release_memory(device)
        if opts.latency and "infer" in modes:
            if work.compile:
                _reset_compile()
            lat = measure(work, "infer", 1, schedule, per_step_sync=True)
            result.latency = {"batch": 1, "p50_ms": lat["step_ms"], "p10_ms": lat["step_ms_p10"], "p90_ms": lat["step_ms_p90"],
                              "steps": lat["steps"], "compile_s": lat["compile_s"]}
        if opts.profile_dir is not None:
            from archprof.bench.profile import profile_model

            mode = "train" if opts.mode == "train" else "infer"
            pbatch = result.run(mode)["batch"]
            if work.compile:
                _reset_compile()
            result.profile = profile_model(work, mode, pbatch, Path(opts.profile_dir), analysis, peak, src.label)
    if is_cuda(device):
        notes.append("GPU memory: torch.cuda.max_memory_allocated (weights, gradients, optimizer state and activations; allocator cache excluded)")
    else:
        notes.append("CPU memory: growth of the resident set during the run (weights built before it excluded)")
    return result
