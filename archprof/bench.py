"""``archprof bench``: honest throughput, latency, memory and MFU of a model on a GPU or the CPU.

What "honest" means here:

* every measured configuration (mode x batch size) gets its own warm-up, so cuDNN's autotuner
  (``cudnn.benchmark``, which tunes per input shape) and the caching allocator settle first;
* ``torch.compile`` time is the first call of the compiled model, reported on its own and never
  part of a timed step;
* GPU steps are timed with CUDA events around each step (one synchronisation after the loop, so
  timing adds no bubbles); CPU steps with ``time.perf_counter``; latency always with a
  synchronised ``perf_counter`` (what a caller waits for);
* results are the median over many steps, with the spread (10th and 90th percentile);
* MFU = achieved FLOP/s / peak FLOP/s, where achieved FLOP/s uses the analyser's MACs
  (``2 * MACs`` per image for inference, ``3x`` that for a training step: forward + backward), and
  the peak comes from :data:`DEVICE_PEAKS` (datasheet, dense) and from a matmul probe measured in
  the same run (both reported; the CPU has only the probe);
* every result carries a fingerprint: device, driver, CUDA, cuDNN, torch, precision flags
  (TF32), compile mode, batch size and memory layout, so numbers are only compared like for like.

``--timm-compat`` switches to the protocol of timm's ``benchmark.py`` (see :data:`TIMM_PROTOCOL`).
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from archprof.errors import ArchprofError

SCHEMA_VERSION = 1
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
MODES = ("infer", "train", "both")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_BATCH = {"cuda": 64, "cpu": 8}
TIMM_BATCH = 256
#: timm's benchmark.py: 10 warm-up and 40 timed steps, synthetic ``torch.randn`` input, ``cudnn.benchmark = True``.
TIMM_PROTOCOL = {"warmup_steps": 10, "timed_steps": 40, "batch": TIMM_BATCH}


# --------------------------------------------------------------------------------------------
# Device peaks (dense, i.e. without 2:4 sparsity). NVIDIA datasheets quote tensor-core rates
# "with sparsity"; the dense rate is half of that. FP32 is the CUDA-core (non-tensor) rate; TF32,
# BF16 and FP16 are tensor-core rates with FP32 accumulation (what PyTorch uses). Bandwidth is
# the memory bandwidth of the same datasheet, used for the roofline ridge point.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DevicePeak:
    name: str
    pattern: str                 # regex searched in torch.cuda.get_device_name()
    tflops: dict[str, float]     # dense peak TFLOP/s per precision
    bandwidth_gbs: float         # memory bandwidth, GB/s
    source: str


DEVICE_PEAKS: tuple[DevicePeak, ...] = (
    # NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), "H100 NVL" column:
    # FP32 60, TF32 835*, BF16/FP16 1,671* TFLOPS (* sparse), 3.9 TB/s.
    DevicePeak("H100 NVL", r"H100.*NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}, 3900, "H100 datasheet, NVL column"),
    # Same datasheet, "H100 PCIe" column: FP32 51, TF32 756*, BF16/FP16 1,513*, 2.0 TB/s.
    DevicePeak("H100 PCIe", r"H100.*PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.5, "fp16": 756.5}, 2000, "H100 datasheet, PCIe column"),
    # Same datasheet, "H100 SXM" column: FP32 67, TF32 989*, BF16/FP16 1,979*, 3.35 TB/s.
    # torch reports it as "NVIDIA H100 80GB HBM3".
    DevicePeak("H100 SXM", r"H100", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}, 3350, "H100 datasheet, SXM column"),
    # NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200), "H200 NVL": FP32 60, TF32 835*, BF16/FP16 1,671*, 4.8 TB/s.
    DevicePeak("H200 NVL", r"H200.*NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}, 4800, "H200 datasheet, NVL column"),
    # Same datasheet, "H200 SXM": FP32 67, TF32 989*, BF16/FP16 1,979*, 4.8 TB/s (the H100 SXM compute with HBM3e).
    DevicePeak("H200 SXM", r"H200", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}, 4800, "H200 datasheet, SXM column"),
    # NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100): FP32 19.5, TF32 156 (312*), BF16/FP16 312 (624*).
    # Bandwidth: 80GB SXM 2,039 GB/s, 80GB PCIe 1,935 GB/s, 40GB 1,555 GB/s.
    DevicePeak("A100 80GB PCIe", r"A100.*80GB.*PCIe|A100.*PCIe.*80GB", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}, 1935, "A100 datasheet"),
    DevicePeak("A100 80GB", r"A100.*80GB", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}, 2039, "A100 datasheet"),
    DevicePeak("A100 40GB", r"A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}, 1555, "A100 datasheet"),
    # NVIDIA L40S datasheet: FP32 91.6, TF32 183 (366*), BF16/FP16 362.05 (733*), 864 GB/s.
    DevicePeak("L40S", r"L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05}, 864, "L40S datasheet"),
    # NVIDIA L4 datasheet: FP32 30.3, TF32 120*, BF16/FP16 242*, 300 GB/s.
    DevicePeak("L4", r"\bL4\b", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}, 300, "L4 datasheet"),
    # NVIDIA A10 datasheet: FP32 31.2, TF32 62.5 (125*), BF16/FP16 125 (250*), 600 GB/s.
    DevicePeak("A10", r"\bA10\b", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}, 600, "A10 datasheet"),
    # NVIDIA Ada Lovelace architecture whitepaper, appendix table (GeForce RTX 4090): FP32 82.6,
    # TF32 82.6 (165.2*), FP16/BF16 tensor with FP32 accumulate 165.2 (330.4*), 1,008 GB/s.
    DevicePeak("RTX 4090", r"RTX 4090", {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2}, 1008, "Ada Lovelace whitepaper"),
    # NVIDIA Ampere GA102 whitepaper (GeForce RTX 3090): FP32 35.6, TF32 35.6 (71*), FP16/BF16 with FP32 accumulate 71 (142*), 936 GB/s.
    DevicePeak("RTX 3090", r"RTX 3090", {"fp32": 35.6, "tf32": 35.6, "bf16": 71.0, "fp16": 71.0}, 936, "Ampere GA102 whitepaper"),
    # NVIDIA V100 datasheet: SXM2 FP32 15.7, tensor FP16 125, 900 GB/s; PCIe FP32 14, tensor 112. No TF32 or BF16.
    DevicePeak("V100 PCIe", r"V100.*PCIE|V100.*PCIe", {"fp32": 14.0, "fp16": 112.0}, 900, "V100 datasheet, PCIe"),
    DevicePeak("V100 SXM2", r"V100", {"fp32": 15.7, "fp16": 125.0}, 900, "V100 datasheet, SXM2"),
    # NVIDIA T4 datasheet: FP32 8.1, FP16 tensor 65, 320 GB/s. No TF32 or BF16.
    DevicePeak("T4", r"\bT4\b", {"fp32": 8.1, "fp16": 65.0}, 320, "T4 datasheet"),
)


def device_peak(device_name: str) -> DevicePeak | None:
    """The table entry of a CUDA device name (first matching pattern), or None."""
    for entry in DEVICE_PEAKS:
        if re.search(entry.pattern, device_name):
            return entry
    return None


# --------------------------------------------------------------------------------------------
# Options, statistics and results
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Device, precision and environment
# --------------------------------------------------------------------------------------------
def resolve_device(text: str) -> torch.device:
    text = (text or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", text):
        if not torch.cuda.is_available():
            raise ArchprofError(f"--device {text}: CUDA is not available here (torch {torch.__version__}, "
                                f"built for CUDA {torch.version.cuda or 'none'}; no GPU visible); use --device cpu")
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ArchprofError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return device
    raise ArchprofError(f"--device must be cuda, cuda:N or cpu, got '{text}'")


def _is_cuda(device: torch.device) -> bool:
    return device.type == "cuda"


def _sync(device: torch.device) -> None:
    if _is_cuda(device):
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def precision_flags(precision: str, device: torch.device, timm_compat: bool) -> Iterator[None]:
    """Set (and afterwards restore) the global flags a precision needs.

    archprof's own protocol makes fp32 real IEEE fp32 (TF32 off for matmuls *and* cuDNN convs;
    PyTorch's default allows TF32 in cuDNN), tf32 turns TF32 on for both, and bf16/fp16 use
    autocast with TF32 off for what stays in fp32. ``--timm-compat`` leaves PyTorch's defaults
    alone, as timm's benchmark.py does. cuDNN's autotuner is on for CUDA in both protocols.
    """
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark)
    try:
        if _is_cuda(device):
            torch.backends.cudnn.benchmark = True
        if not timm_compat:
            tf32 = precision == "tf32"
            torch.set_float32_matmul_precision("high" if tf32 else "highest")
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        yield
    finally:
        torch.set_float32_matmul_precision(saved[2])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[0], saved[1]
        torch.backends.cudnn.benchmark = saved[3]


@dataclass(frozen=True)
class Numerics:
    """How a precision is realised: autocast dtype, or the dtype weights and inputs are cast to."""

    autocast: torch.dtype | None
    model_dtype: torch.dtype
    grad_scaler: bool
    description: str


def numerics(precision: str, device: torch.device, timm_compat: bool) -> Numerics:
    if precision == "tf32" and not _is_cuda(device):
        raise ArchprofError("--precision tf32 needs a CUDA device (TF32 is a tensor-core format); use fp32 or bf16 on the CPU")
    if timm_compat:
        if precision == "tf32":
            raise ArchprofError("--timm-compat: timm's benchmark.py has no tf32 precision (use fp32, fp16 for its --amp, or bf16)")
        if precision == "fp16":   # timm --amp: torch.autocast with its default (fp16) dtype, no GradScaler
            return Numerics(torch.float16, torch.float32, False, "autocast fp16 (timm --amp)")
        if precision == "bf16":   # timm --precision bfloat16: weights and inputs cast to bf16
            return Numerics(None, torch.bfloat16, False, "weights and inputs in bf16 (timm --precision bfloat16)")
        return Numerics(None, torch.float32, False, "fp32 with PyTorch's default TF32 flags (timm --precision float32)")
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return Numerics(dtype, torch.float32, precision == "fp16", f"autocast {precision}, fp32 weights"
                        + (", GradScaler" if precision == "fp16" else ""))
    return Numerics(None, torch.float32, False, "tf32 tensor cores for fp32 matmuls and convs" if precision == "tf32" else "IEEE fp32 (TF32 off)")


def _driver_version() -> str | None:
    """The NVIDIA driver version (nvidia-smi), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""
    return first or None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fingerprint(device: torch.device, opts: BenchOptions, num: Numerics, batch: int | str) -> dict[str, Any]:
    """Everything a throughput number depends on besides the model: compare only equal fingerprints."""
    fp: dict[str, Any] = {"device_type": device.type}
    if _is_cuda(device):
        props = torch.cuda.get_device_properties(device)
        cuda_driver = None
        with contextlib.suppress(Exception):
            cuda_driver = int(torch._C._cuda_getDriverVersion())
        fp.update({
            "device": torch.cuda.get_device_name(device),
            "compute_capability": f"{props.major}.{props.minor}",
            "sm_count": props.multi_processor_count,
            "memory_bytes": props.total_memory,
            "driver": _driver_version(),
            "cuda_driver_api": cuda_driver,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        })
    else:
        fp.update({"device": _cpu_name(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                   "mkldnn": torch.backends.mkldnn.is_available()})
    fp.update({
        "torch": torch.__version__,
        "python": platform.python_version(),
        "precision": opts.precision,
        "numerics": num.description,
        "autocast_dtype": str(num.autocast).replace("torch.", "") if num.autocast else None,
        "model_dtype": str(num.model_dtype).replace("torch.", ""),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "compile": opts.compile,
        "batch": batch,
        "memory_format": "channels_last" if opts.channels_last else "contiguous",
        "protocol": "timm" if opts.timm_compat else "archprof",
    })
    return fp


# --------------------------------------------------------------------------------------------
# Probes: peak matmul FLOP/s and memory bandwidth, measured
# --------------------------------------------------------------------------------------------
def matmul_probe(device: torch.device, dtype: torch.dtype, n: int | None = None, reps: int | None = None) -> float:
    """Best achieved FLOP/s of a large square matmul (``2 n^3`` FLOPs) over a few repeats."""
    cuda = _is_cuda(device)
    n = n or (8192 if cuda else 1024)
    reps = reps or (30 if cuda else 8)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    for _ in range(3):
        torch.mm(a, b)
    times = []
    if cuda:
        torch.cuda.synchronize(device)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for start, end in events:
            start.record()
            torch.mm(a, b)
            end.record()
        torch.cuda.synchronize(device)
        times = [s.elapsed_time(e) / 1e3 for s, e in events]
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
    del a, b
    return 2 * n**3 / min(times)


def bandwidth_probe(device: torch.device, nbytes: int | None = None, reps: int | None = None) -> float:
    """Best achieved memory bandwidth (bytes/s) of a large device-to-device copy (read + write)."""
    cuda = _is_cuda(device)
    nbytes = nbytes or ((1 << 30) if cuda else (64 << 20))
    reps = reps or (20 if cuda else 8)
    src = torch.empty(nbytes // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    for _ in range(2):
        dst.copy_(src)
    times = []
    if cuda:
        torch.cuda.synchronize(device)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for start, end in events:
            start.record()
            dst.copy_(src)
            end.record()
        torch.cuda.synchronize(device)
        times = [s.elapsed_time(e) / 1e3 for s, e in events]
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            dst.copy_(src)
            times.append(time.perf_counter() - t0)
    del src, dst
    return 2 * nbytes / min(times)


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
    if _is_cuda(device):
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


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------
def _status_bytes(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class PeakMemory:
    """Peak memory of the work inside the block.

    CUDA: ``torch.cuda.max_memory_allocated`` after a reset (weights included, allocator cache not).
    CPU: growth of the resident set: the kernel's high-water mark (VmHWM, reset through
    ``/proc/self/clear_refs``) minus the resident set at the start. Weights built before the block
    are not in it. Where the high-water mark cannot be reset, the result is None ("n/a").
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.start_rss: int | None = None
        self.hwm_reset = False

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        if _is_cuda(self.device):
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
                self.hwm_reset = True
            except OSError:
                self.hwm_reset = False
            self.start_rss = _status_bytes("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        return None

    def result(self) -> dict[str, Any]:
        if _is_cuda(self.device):
            return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated(self.device)),
                    "peak_reserved_bytes": int(torch.cuda.max_memory_reserved(self.device)),
                    "memory_kind": "cuda max_memory_allocated"}
        hwm = _status_bytes("VmHWM")
        if not self.hwm_reset or hwm is None or self.start_rss is None:
            return {"peak_memory_bytes": None, "memory_kind": "n/a (cannot reset the RSS high-water mark)"}
        return {"peak_memory_bytes": max(0, hwm - self.start_rss), "memory_kind": "cpu RSS growth"}


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text)


def _free(device: torch.device) -> None:
    gc.collect()
    if _is_cuda(device):
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------
def time_steps(step: Callable[[], Any], device: torch.device, schedule: Schedule, *, per_step_sync: bool = False) -> Timing:
    """Warm up, then time ``step`` until the schedule's minimums are met.

    CUDA without ``per_step_sync``: a CUDA event before and after each step, one synchronisation
    at the end (no bubbles between steps). Otherwise each step is ``perf_counter`` around the step
    plus a synchronisation (what timm's benchmark.py and latency measurements do).
    """
    cuda = _is_cuda(device)
    start = time.perf_counter()
    warm = 0
    while warm < schedule.warmup_steps or time.perf_counter() - start < schedule.warmup_s:
        step()
        _sync(device)
        warm += 1
        if warm >= max(schedule.warmup_steps, schedule.max_steps):
            break
    _sync(device)
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
        _sync(device)
        steps.append(time.perf_counter() - t)
        if len(steps) >= schedule.max_steps:
            break
    return Timing(steps, time.perf_counter() - t_run, warm)


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------
@dataclass
class Workload:
    """The model and everything its steps need, for one device and precision."""

    model: nn.Module
    device: torch.device
    shape: tuple[int, ...]
    num: Numerics
    channels_last: bool
    compile: str | None
    timm_compat: bool

    def autocast(self):
        if self.num.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.num.autocast)

    def input(self, batch: int) -> torch.Tensor:
        gen = torch.Generator(device=self.device).manual_seed(batch)
        x = torch.randn((batch, *self.shape), device=self.device, dtype=self.num.model_dtype, generator=gen)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def compiled(self, module: nn.Module) -> Callable:
        if not self.compile:
            return module
        return torch.compile(module, mode=None if self.compile == "default" else self.compile, dynamic=False)

    def _mark_step(self) -> None:
        # CUDA-graph compile modes reuse output buffers: tell them a new step begins.
        if self.compile and _is_cuda(self.device) and hasattr(torch, "compiler") and hasattr(torch.compiler, "cudagraph_mark_step_begin"):
            torch.compiler.cudagraph_mark_step_begin()

    def infer_step(self, batch: int) -> Callable[[], Any]:
        self.model.eval()
        fn = self.compiled(self.model)
        x = self.input(batch)

        def step():
            self._mark_step()
            with torch.no_grad(), self.autocast():
                return fn(x)

        return step

    def train_step(self, batch: int) -> Callable[[], Any]:
        self.model.train()
        fn = self.compiled(self.model)
        x = self.input(batch)
        params = [p for p in self.model.parameters() if p.requires_grad]
        # timm's benchmark.py: create_optimizer_v2(opt="sgd", lr=1e-4) = SGD, nesterov, momentum 0.9.
        opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, nesterov=self.timm_compat)
        scaler = torch.amp.GradScaler(self.device.type) if self.num.grad_scaler else None
        loss_fn = nn.CrossEntropyLoss()
        state: dict[str, Any] = {}

        def loss_of(out):
            if isinstance(out, (tuple, list)):
                out = out[0]
            if out.dim() == 2:
                classes = out.shape[1]
                if self.timm_compat:   # timm draws new targets inside the timed step
                    target = torch.empty(out.shape[0], device=out.device, dtype=torch.long).random_(classes)
                else:
                    target = state.get("target")
                    if target is None:
                        gen = torch.Generator(device=out.device).manual_seed(0)
                        target = state["target"] = torch.randint(0, classes, (out.shape[0],), device=out.device, generator=gen)
                return loss_fn(out.float(), target)
            return out.float().square().mean()

        def step():
            self._mark_step()
            opt.zero_grad(set_to_none=True)
            with self.autocast():
                loss = loss_of(fn(x))
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()

        step.optimizer = opt  # type: ignore[attr-defined]  (freed after OOM)
        return step


def build_workload(src, device: torch.device, shape: tuple[int, ...], opts: BenchOptions, num: Numerics) -> Workload:
    torch.manual_seed(0)
    try:
        with torch.device(device):
            model = src.build()
    except ArchprofError:
        raise
    except Exception:  # noqa: BLE001 - some constructors compute on the CPU: build there, then move
        model = src.build().to(device)
    model = model.to(device=device, dtype=num.model_dtype)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return Workload(model, device, shape, num, opts.channels_last, opts.compile, opts.timm_compat)


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------
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
                _sync(device)
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


def _memory_estimate(totals: dict[str, Any], mode: str, batch: int) -> int:
    """Analyser estimate of the memory a batch needs (to keep CPU sweeps out of swap)."""
    if mode == "train":
        return int(totals["train_memory_sgd_bytes"] + (batch - 1) * totals["saved_activation_bytes"])
    return int(totals["weight_bytes"] + batch * totals["peak_activation_bytes"])


def sweep(work: Workload, mode: str, schedule: Schedule, totals: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """Powers of two until out of memory or throughput stops growing (two doublings under +5%)."""
    device = work.device
    batch = 2 if mode == "train" else 1   # batch norm cannot train on one image
    cap = 4096 if _is_cuda(device) else 256
    budget = (_status_bytes("MemAvailable") or 0) // 2 if not _is_cuda(device) else None
    points: list[dict[str, Any]] = []
    flat = 0
    while batch <= cap:
        if budget and _memory_estimate(totals, mode, batch) > budget:
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
            _free(device)
            notes.append(f"{mode} sweep: out of memory at batch {batch}")
            break
        best = max((p["images_per_s"] for p in points), default=0.0)
        flat = flat + 1 if point["images_per_s"] < 1.05 * best else 0
        points.append(point)
        _free(device)
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
        return TIMM_BATCH if opts.timm_compat else DEFAULT_BATCH["cuda" if _is_cuda(device) else "cpu"]
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
    from archprof.sources import open_source

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
    schedule = opts.schedule or (TIMM_SCHEDULE if opts.timm_compat else GPU_SCHEDULE if _is_cuda(device) else CPU_SCHEDULE)
    modes = ["infer", "train"] if opts.mode == "both" else [opts.mode]
    notes: list[str] = []

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
            _free(device)
        if opts.latency and "infer" in modes:
            if work.compile:
                _reset_compile()
            lat = measure(work, "infer", 1, schedule, per_step_sync=True)
            result.latency = {"batch": 1, "p50_ms": lat["step_ms"], "p10_ms": lat["step_ms_p10"], "p90_ms": lat["step_ms_p90"],
                              "steps": lat["steps"], "compile_s": lat["compile_s"]}
        if opts.profile_dir is not None:
            from archprof.profile import profile_model

            mode = "train" if opts.mode == "train" else "infer"
            pbatch = result.run(mode)["batch"]
            if work.compile:
                _reset_compile()
            result.profile = profile_model(work, mode, pbatch, Path(opts.profile_dir), analysis, peak, src.label)
    if _is_cuda(device):
        notes.append("GPU memory: torch.cuda.max_memory_allocated (weights, gradients, optimizer state and activations; allocator cache excluded)")
    else:
        notes.append("CPU memory: growth of the resident set during the run (weights built before it excluded)")
    return result


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def _tflops(v: float | None) -> str:
    return "" if v is None else f"{v / 1e12:.2f}" if v >= 1e11 else f"{v / 1e12:.4f}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _rows(result: BenchResult) -> list[dict[str, Any]]:
    from archprof.render import human

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
    from archprof.render import human

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

    from archprof.render import render_frame, rich_table

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


# --------------------------------------------------------------------------------------------
# Report files: reports/bench/<spec>.json (the contract of archprof.report.load_result)
# --------------------------------------------------------------------------------------------
def _flat(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is None or isinstance(v, (str, int, float, bool))}


def report_record(result: BenchResult, spec_name: str, spec_hash: str | None, command: str,
                  previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The benchmark file that ``archprof report`` shows: flat device fingerprint, one flat
    record per mode. Records of a previous file with the same device fingerprint are kept unless
    this run measured the same mode, batch, precision, layout and compile mode."""
    fp = result.fingerprint
    device = _flat({"name": fp["device"], "type": fp["device_type"], **{k: v for k, v in fp.items()
                    if k not in ("device", "device_type", "precision", "batch", "memory_format", "compile")}})
    results = []
    for run in result.runs:
        record = {
            "mode": "inference" if run["mode"] == "infer" else "training",
            "batch": run["batch"], "dtype": fp["precision"], "memory_format": fp["memory_format"], "compile": fp["compile"],
            "throughput": round(run["images_per_s"], 2), "throughput_p10": round(run["images_per_s_p10"], 2),
            "throughput_p90": round(run["images_per_s_p90"], 2), "step_ms": round(run["step_ms"], 3),
            "mfu": None if run["mfu"] is None else round(run["mfu"], 4),
            "peak_memory_bytes": run["peak_memory_bytes"], "compile_s": run["compile_s"], "steps": run["steps"],
        }
        if run["mode"] == "infer" and result.latency:
            record["latency_ms"] = round(result.latency["p50_ms"], 3)
            record["latency_p90_ms"] = round(result.latency["p90_ms"], 3)
        results.append(record)

    def key(r: dict[str, Any]) -> tuple:
        return tuple(r.get(k) for k in ("mode", "batch", "dtype", "memory_format", "compile"))

    if previous and previous.get("device") == device:
        ours = {key(r) for r in results}
        results = [r for r in previous.get("results", []) if key(r) not in ours] + results
    out = {"spec": spec_name, "device": device, "results": results, "command": command,
           "notes": "; ".join(result.notes) or None}
    if spec_hash:
        out["spec_hash"] = spec_hash
    return {k: v for k, v in out.items() if v is not None}


def write_report_record(folder: Path, result: BenchResult, spec, command: str) -> Path:
    import json

    from archprof.files import write_text_atomic

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchprofError(f"--report-dir {folder}: cannot create the folder ({exc.strerror})") from None
    path = folder / f"{spec.name}.json"
    previous = None
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (ValueError, OSError):
            previous = None
    record = report_record(result, spec.name, spec.digest(), command, previous if isinstance(previous, dict) else None)
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return path
