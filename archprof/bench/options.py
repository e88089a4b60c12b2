"""What a benchmark is asked to do (options, warm-up and timing schedules) and what it returns.

No torch here: the command line validates its options against these without importing it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
MODES = ("infer", "train", "both")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_BATCH = {"cuda": 64, "cpu": 8}
TIMM_BATCH = 256
#: timm's benchmark.py: 10 warm-up and 40 timed steps, synthetic ``torch.randn`` input, ``cudnn.benchmark = True``.
TIMM_PROTOCOL = {"warmup_steps": 10, "timed_steps": 40, "batch": TIMM_BATCH}


@dataclass
class BenchOptions:
    device: str = "auto"
    batch_size: int | str | None = None     # int, "auto" or None (default for the device)
    precision: str = "fp32"
    channels_last: bool = False
    compile: str | None = None               # None or one of COMPILE_MODES
    mode: str = "infer"
    timm_compat: bool = False
    input_shape: tuple[int, ...] | None = None
    profile_dir: Path | None = None
    latency: bool = True                     # measure batch-1 latency when inference is benchmarked
    schedule: "Schedule | None" = None       # override the warm-up/timing schedule (tests)


@dataclass(frozen=True)
class Schedule:
    """Warm-up until both minimums are met, then time until both minimums are met (or max_steps)."""

    warmup_steps: int
    warmup_s: float
    min_steps: int
    min_s: float
    max_steps: int

    def as_dict(self) -> dict[str, Any]:
        return {"warmup_steps": self.warmup_steps, "warmup_s": self.warmup_s, "min_steps": self.min_steps,
                "min_s": self.min_s, "max_steps": self.max_steps}


GPU_SCHEDULE = Schedule(warmup_steps=10, warmup_s=1.0, min_steps=30, min_s=2.0, max_steps=2000)
CPU_SCHEDULE = Schedule(warmup_steps=2, warmup_s=1.0, min_steps=5, min_s=2.0, max_steps=200)
TIMM_SCHEDULE = Schedule(warmup_steps=10, warmup_s=0.0, min_steps=40, min_s=0.0, max_steps=40)


@dataclass
class BenchResult:
    source: str
    input_shape: tuple[int, ...]
    fingerprint: dict[str, Any]
    macs_per_image: int
    flops_per_image: int                    # 2 * MACs (the MFU convention)
    peak: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    sweeps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    latency: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def run(self, mode: str) -> dict[str, Any] | None:
        return next((r for r in self.runs if r["mode"] == mode), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "fingerprint": self.fingerprint,
            "macs_per_image": self.macs_per_image,
            "flops_per_image": self.flops_per_image,
            "peak": self.peak,
            "runs": self.runs,
            "sweeps": self.sweeps,
            "latency": self.latency,
            "profile": self.profile,
            "notes": self.notes,
        }
