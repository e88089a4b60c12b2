"""The device, its precision flags and the fingerprint that every benchmark result carries."""
from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from archprof.bench.options import BenchOptions
from archprof.errors import ArchprofError


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


def is_cuda(device: torch.device) -> bool:
    return device.type == "cuda"


def sync(device: torch.device) -> None:
    if is_cuda(device):
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
        if is_cuda(device):
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
    if precision == "tf32" and not is_cuda(device):
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
    if is_cuda(device):
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
