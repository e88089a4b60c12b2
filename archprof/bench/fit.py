"""Will it fit? The analyser's memory estimate of a run against the memory free on its device.

Training, evaluation and benchmarks check this before they build anything, so that a spec with
``out: 1000000`` is refused in one line, with the estimate, what is free and the batch that would
fit, instead of allocating until the allocator gives up half a minute later. The estimate is the
analyser's (weights, gradients, optimizer state, the activations saved for backward and the
forward pass's peak, or for inference the weights and the peak) from an analysis at batch 1,
scaled by the batch; framework workspace comes on top,
so a run is refused when the estimate passes 90% of the free memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from archprof.errors import ArchprofError
from archprof.text import human

HEADROOM = 0.9


def estimate(totals: dict[str, Any], mode: str, batch: int, optimizer: str = "sgd") -> int:
    """Bytes a ``mode`` ("train" or "infer") step at ``batch`` needs, from batch-1 totals."""
    if mode == "train":   # the saved tensors, and on top of them the forward pass's own peak
        fixed = totals["train_memory_adamw_bytes" if optimizer == "adamw" else "train_memory_sgd_bytes"] - totals["saved_activation_bytes"]
        return int(fixed + batch * (totals["saved_activation_bytes"] + totals["peak_activation_bytes"]))
    return int(totals["weight_bytes"] + batch * totals["peak_activation_bytes"])


def free_bytes(device) -> int | None:
    """Memory free for a new run: MemAvailable on the CPU, the CUDA driver's free memory on a GPU."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits(totals: dict[str, Any], mode: str, batch: int, device, what: str, optimizer: str = "sgd") -> None:
    """Refuse, in one line, a run whose estimate passes the headroom of the free memory."""
    free = free_bytes(device)
    if free is None:
        return
    need = estimate(totals, mode, batch, optimizer)
    if need <= HEADROOM * free:
        return
    per_image = estimate(totals, mode, 2, optimizer) - estimate(totals, mode, 1, optimizer)
    fixed = estimate(totals, mode, 1, optimizer) - per_image
    fits = int((HEADROOM * free - fixed) // per_image) if per_image > 0 else 0
    advice = (f"use a smaller --batch-size (at most {fits} fits)" if fits >= 1 else
              "even batch 1 does not fit: make the model smaller or use a device with more memory")
    raise ArchprofError(f"{what} at batch {batch} needs about {human(need, 'B')} (analyser estimate: "
                        f"{'weights, gradients, optimizer state and saved activations' if mode == 'train' else 'weights and the inference peak'}), "
                        f"but {human(free, 'B')} is free on {device}; {advice}")
