"""Peak memory of a measured step: the CUDA allocator's peak, or the growth of the resident set on the CPU."""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import torch

from archprof.bench.env import is_cuda


def status_bytes(key: str) -> int | None:
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
        if is_cuda(self.device):
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
                self.hwm_reset = True
            except OSError:
                self.hwm_reset = False
            self.start_rss = status_bytes("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        return None

    def result(self) -> dict[str, Any]:
        if is_cuda(self.device):
            return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated(self.device)),
                    "peak_reserved_bytes": int(torch.cuda.max_memory_reserved(self.device)),
                    "memory_kind": "cuda max_memory_allocated"}
        hwm = status_bytes("VmHWM")
        if not self.hwm_reset or hwm is None or self.start_rss is None:
            return {"peak_memory_bytes": None, "memory_kind": "n/a (cannot reset the RSS high-water mark)"}
        return {"peak_memory_bytes": max(0, hwm - self.start_rss), "memory_kind": "cpu RSS growth"}


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text)


def release_memory(device: torch.device) -> None:
    gc.collect()
    if is_cuda(device):
        torch.cuda.empty_cache()
