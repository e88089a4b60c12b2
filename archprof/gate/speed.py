"""Speed gates: a model's step time against a baseline recorded for the same kind of machine.

On a GPU a baseline holds images/s for one environment (GPU, compute capability, driver, CUDA,
cuDNN, torch) and the gate fails when the median falls more than 10% below it. On a CPU runner,
where neighbours come and go, absolute times are noise: every round times a fixed plain-PyTorch
reference workload and then the model, back to back in the same process, and records the
model's median step time divided by the reference's — *reference units*. The median over rounds
survives a loaded or different runner; the gate fails when it grows by more than 50% (a model
whose cost doubles fails; noise does not get there). Every round is kept in the baseline and in
the result. The timing itself is :mod:`archprof.bench`'s (warm-up, then timed steps).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import statistics
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from archprof.bench.env import fingerprint, is_cuda, numerics, precision_flags, resolve_device
from archprof.bench.options import GPU_SCHEDULE, BenchOptions, Schedule
from archprof.bench.timing import percentile, time_steps
from archprof.bench.workload import build_workload
from archprof.errors import ArchprofError
from archprof.files import write_text_atomic

DEFAULT_THRESHOLD = {"cpu": 0.50, "cuda": 0.10}
DEFAULT_BATCH = {"cpu": 8, "cuda": 64}
ROUND = Schedule(warmup_steps=1, warmup_s=0.0, min_steps=3, min_s=0.25, max_steps=200)
ENV_KEYS = ("device", "compute_capability", "driver", "cuda", "cudnn", "torch")


@dataclass
class SpeedOptions:
    modes: tuple[str, ...] = ("infer",)
    batch: int | None = None           # default: DEFAULT_BATCH for the device
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    threads: int | None = 1            # CPU intra-op threads while timing (None: torch's setting)
    rounds: int = 5
    threshold: float | None = None     # fraction; default DEFAULT_THRESHOLD for the device


@dataclass
class SpeedRun:
    """One mode of one model, measured now."""

    key: str
    mode: str
    unit: str                          # "reference units" (lower is better) or "images/s" (higher is better)
    median: float
    threshold: float
    rounds: list[dict[str, Any]]
    fingerprint: dict[str, Any]
    status: str = ""                   # pass, slower, missing, written
    baseline: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "written")

    def record(self) -> dict[str, Any]:
        return {"unit": self.unit, "median": self.median, "rounds": self.rounds, "fingerprint": self.fingerprint,
                "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "mode": self.mode, "unit": self.unit, "median": self.median, "baseline": self.baseline,
                "threshold": self.threshold, "status": self.status, "message": self.message, "rounds": self.rounds,
                "fingerprint": self.fingerprint}


class ReferenceWorkload:
    """The CPU yardstick, in plain PyTorch: a 3x3 convolution over a 64x56x56 map and a 256x1024 by
    1024x1024 matmul (about 0.38 G multiply-accumulates), on fixed inputs, without gradients."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x, self.w = torch.randn(1, 64, 56, 56, generator=g), torch.randn(64, 64, 3, 3, generator=g)
        self.a, self.b = torch.randn(256, 1024, generator=g), torch.randn(1024, 1024, generator=g)

    def step(self) -> None:
        with torch.no_grad():
            F.conv2d(self.x, self.w, padding=1).relu_()
            torch.mm(self.a, self.b)


def environment_key(fp: dict[str, Any]) -> str:
    """``<gpu>-<hash>`` of the environment a GPU figure depends on (GPU, driver, CUDA, cuDNN, torch)."""
    env = {k: fp.get(k) for k in ENV_KEYS}
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", str(fp.get("device", "gpu")).lower()).strip("-")
    return f"{slug}-{digest}"


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(src, shape: tuple[int, ...], opts: SpeedOptions) -> list[SpeedRun]:
    """Time each mode of ``src`` (an :class:`~archprof.analysis.sources.Source`) as the module doc says."""
    if src.module is not None:   # time a copy of the user's instance, with its weights, never the instance itself
        module = src.module
        tensors = [*module.parameters(), *module.buffers()]
        if tensors and all(t.is_meta for t in tensors):
            raise ArchprofError(f"{src.label}: a model on the meta device has no weights to time; give a model with weights")
        src = replace(src, build=lambda: copy.deepcopy(module))
    device = resolve_device(opts.device)
    kind = "cuda" if is_cuda(device) else "cpu"
    batch = opts.batch or DEFAULT_BATCH[kind]
    threshold = DEFAULT_THRESHOLD[kind] if opts.threshold is None else opts.threshold
    bench_opts = BenchOptions(device=str(device), batch_size=batch, precision=opts.precision, channels_last=opts.channels_last)
    runs = []
    with _threads(opts.threads if kind == "cpu" else None), precision_flags(opts.precision, device, False):
        num = numerics(opts.precision, device, False)
        fp = fingerprint(device, bench_opts, num, batch)
        work = build_workload(src, device, shape, bench_opts, num)
        reference = ReferenceWorkload() if kind == "cpu" else None
        for mode in opts.modes:
            step = work.train_step(batch) if mode == "train" else work.infer_step(batch)
            try:
                if reference is None:
                    runs.append(_gpu_run(step, device, mode, batch, fp, threshold))
                else:
                    runs.append(_cpu_run(step, reference, mode, batch, fp, threshold, opts.rounds))
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ArchprofError(f"{src.label}: the {mode} step failed at batch {batch}: {first}") from None
    return runs


def _cpu_run(step, reference: ReferenceWorkload, mode: str, batch: int, fp: dict, threshold: float, rounds: int) -> SpeedRun:
    cpu = torch.device("cpu")
    time_steps(reference.step, cpu, ROUND)   # first use of the kernels, for both, outside the rounds
    time_steps(step, cpu, ROUND)
    records = []
    for _ in range(max(1, rounds)):
        ref = statistics.median(time_steps(reference.step, cpu, ROUND).step_s)
        model = statistics.median(time_steps(step, cpu, ROUND).step_s)
        records.append({"reference_s": ref, "model_s": model, "ratio": model / ref})
    median = statistics.median(r["ratio"] for r in records)
    key = f"cpu {mode} batch {batch} {fp['precision']} threads {fp['threads']}"
    return SpeedRun(key, mode, "reference units", median, threshold, records, fp)


def _gpu_run(step, device: torch.device, mode: str, batch: int, fp: dict, threshold: float) -> SpeedRun:
    timing = time_steps(step, device, GPU_SCHEDULE)
    images = batch / statistics.median(timing.step_s)
    records = [{"steps": timing.steps, "step_ms_p10": percentile(timing.step_s, 10) * 1e3,
                "step_ms_p50": statistics.median(timing.step_s) * 1e3, "step_ms_p90": percentile(timing.step_s, 90) * 1e3}]
    key = f"{environment_key(fp)} {mode} {fp['precision']} batch {batch} {fp['memory_format']}"
    return SpeedRun(key, mode, "images/s", images, threshold, records, fp)


def compare(run: SpeedRun, stored: dict[str, Any] | None, path: Path) -> None:
    """Set the run's status and message from the stored record of its key (None: no baseline)."""
    if stored is None:
        run.status = "missing"
        run.message = f"no speed baseline for '{run.key}' in {path}"
        return
    run.baseline = float(stored["median"])
    change = run.median / run.baseline - 1
    if run.unit == "images/s":
        slower = change < -run.threshold
        figure = f"{run.median:,.1f} images/s, baseline {run.baseline:,.1f} ({change:+.1%})"
    else:
        slower = change > run.threshold
        figure = (f"{run.median:.3f} reference units (median of {len(run.rounds)} rounds), "
                  f"baseline {run.baseline:.3f} ({change:+.1%})")
    run.status = "slower" if slower else "pass"
    run.message = f"{run.mode}: {figure}" + (f": more than {run.threshold:.0%} slower" if slower else "")


def baseline_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.speed.json"


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ArchprofError(f"{path}: not a speed baseline (invalid JSON); remove it or re-bless") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), dict):
        raise ArchprofError(f"{path}: not a speed baseline (no 'records'); remove it or re-bless")
    return data


def write(path: Path, name: str, source: str, shape: tuple[int, ...], runs: list[SpeedRun], previous: dict[str, Any]) -> None:
    """Store these runs' records, keeping the records of other keys (other machines, modes)."""
    records = dict(previous.get("records", {}))
    records.update({run.key: run.record() for run in runs})
    data = {"name": name, "source": source, "input": list(shape), "records": dict(sorted(records.items()))}
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
