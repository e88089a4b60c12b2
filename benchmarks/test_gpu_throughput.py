"""Gate (c): GPU throughput against baselines recorded on the same fingerprint.

A baseline file ``gpu/<device>-<hash>.json`` holds the results of one environment (GPU, driver,
CUDA, cuDNN, torch); each case inside is keyed by source, mode, precision, batch, memory layout
and compile mode, and also stores the full fingerprint of its run (TF32 flags included). A case
is compared only with the entry of an identical fingerprint; otherwise it is skipped with the
reason. Without a GPU every case is skipped (``-rs`` shows why).

Record or refresh the baselines on the GPU machine::

    python -m pytest benchmarks/test_gpu_throughput.py --bless-gpu -rfEs
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

from archprof.files import write_text_atomic
from archprof.gate.speed import ENV_KEYS, environment_key

TOLERANCE = 0.10   # fail when the median images/s falls more than 10% below the baseline
CASES = [
    ("resnet50", {"precision": "bf16", "channels_last": True, "batch_size": 256, "mode": "infer"}),
    ("resnet50", {"precision": "bf16", "channels_last": True, "batch_size": 256, "mode": "train"}),
    ("resnet50", {"precision": "tf32", "channels_last": True, "batch_size": 256, "mode": "infer"}),
    ("convnext_tiny", {"precision": "bf16", "channels_last": True, "batch_size": 256, "mode": "infer"}),
    ("vit_b_16", {"precision": "bf16", "batch_size": 256, "mode": "infer"}),
    ("efficientnet_b0", {"precision": "bf16", "channels_last": True, "batch_size": 256, "mode": "train"}),
]


def case_key(spec: str, fp: dict, run: dict) -> str:
    return f"{spec} {run['mode']} {fp['precision']} batch {run['batch']} {fp['memory_format']} compile={fp['compile'] or 'off'}"


@pytest.fixture(scope="module")
def gpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible: GPU throughput gate skipped (runs on a GPU machine)")
    return torch.device("cuda")


@pytest.mark.parametrize("spec,options", CASES, ids=[f"{s}-{o['mode']}-{o['precision']}" for s, o in CASES])
def test_gpu_throughput(gpu, spec, options, request):
    from archprof.bench import BenchOptions, run_bench

    result = run_bench(spec, BenchOptions(device="cuda", latency=False, **options))
    fp, run = result.fingerprint, result.runs[0]
    folder = Path(request.config.getoption("--gpu-dir"))
    path = folder / f"{environment_key(fp)}.json"
    key = case_key(spec, fp, run)
    stored = json.loads(path.read_text()) if path.exists() else {"environment": {k: fp.get(k) for k in ENV_KEYS}, "cases": {}}
    entry = {k: run.get(k) for k in ("images_per_s", "images_per_s_p10", "images_per_s_p90", "step_ms", "mfu",
                                     "peak_memory_bytes", "steps")}
    entry.update({"fingerprint": fp, "peak": result.peak, "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    if request.config.getoption("--bless-gpu"):
        stored["cases"][key] = entry
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(stored, indent=2, sort_keys=True, default=str) + "\n")
        return
    base = stored["cases"].get(key)
    if base is None:
        pytest.skip(f"no GPU baseline for '{key}' with fingerprint {path.name} ({fp['device']}, driver {fp['driver']}, "
                    f"CUDA {fp['cuda']}, cuDNN {fp['cudnn']}, torch {fp['torch']}); record it with --bless-gpu")
    differing = sorted(k for k in set(fp) | set(base["fingerprint"]) if k != "schedule" and fp.get(k) != base["fingerprint"].get(k))
    if differing:
        pytest.skip(f"'{key}': fingerprint differs from the baseline in {', '.join(differing)}; not compared")
    floor = (1 - TOLERANCE) * base["images_per_s"]
    assert run["images_per_s"] >= floor, (
        f"{key}: {run['images_per_s']:.1f} images/s (p10-p90 {run['images_per_s_p10']:.1f}-{run['images_per_s_p90']:.1f}) "
        f"is more than {TOLERANCE:.0%} below the baseline {base['images_per_s']:.1f} recorded {base['recorded']} in {path}")
