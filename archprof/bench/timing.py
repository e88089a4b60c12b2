"""Warm-up and timed steps (CUDA events or perf_counter) and their statistics."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from archprof.bench.env import is_cuda, sync
from archprof.bench.options import Schedule


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of a non-empty list."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass
class Timing:
    step_s: list[float]          # one duration per timed step
    wall_s: float                # first timed step start to last timed step end
    warmup_steps: int
    compile_s: float | None = None

    @property
    def steps(self) -> int:
        return len(self.step_s)

    def summary(self, batch: int) -> dict[str, Any]:
        med, p10, p90 = (percentile(self.step_s, q) for q in (50, 10, 90))
        return {
            "images_per_s": batch / med,
            "images_per_s_p10": batch / p90,   # slow steps give the low end
            "images_per_s_p90": batch / p10,
            "images_per_s_wall": batch * self.steps / self.wall_s if self.wall_s > 0 else None,
            "step_ms": med * 1e3,
            "step_ms_p10": p10 * 1e3,
            "step_ms_p90": p90 * 1e3,
            "steps": self.steps,
            "warmup_steps": self.warmup_steps,
            "compile_s": self.compile_s,
        }


def time_steps(step: Callable[[], Any], device: torch.device, schedule: Schedule, *, per_step_sync: bool = False) -> Timing:
    """Warm up, then time ``step`` until the schedule's minimums are met.

    CUDA without ``per_step_sync``: a CUDA event before and after each step, one synchronisation
    at the end (no bubbles between steps). Otherwise each step is ``perf_counter`` around the step
    plus a synchronisation (what timm's benchmark.py and latency measurements do).
    """
    cuda = is_cuda(device)
    start = time.perf_counter()
    warm = 0
    while warm < schedule.warmup_steps or time.perf_counter() - start < schedule.warmup_s:
        step()
        sync(device)
        warm += 1
        if warm >= max(schedule.warmup_steps, schedule.max_steps):
            break
    sync(device)
    if cuda and not per_step_sync:
        events: list[tuple[Any, Any]] = []
        t0 = time.perf_counter()
        while len(events) < schedule.min_steps or time.perf_counter() - t0 < schedule.min_s:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            step()
            end.record()
            events.append((begin, end))
            if len(events) >= schedule.max_steps:
                break
        torch.cuda.synchronize(device)
        steps = [b.elapsed_time(e) / 1e3 for b, e in events]
        wall = events[0][0].elapsed_time(events[-1][1]) / 1e3
        return Timing(steps, wall, warm)
    steps = []
    t_run = time.perf_counter()
    while len(steps) < schedule.min_steps or time.perf_counter() - t_run < schedule.min_s:
        t = time.perf_counter()
        step()
        sync(device)
        steps.append(time.perf_counter() - t)
        if len(steps) >= schedule.max_steps:
            break
    return Timing(steps, time.perf_counter() - t_run, warm)
