"""`archprof bench` against a plain PyTorch timing loop: the images/s it reports must be what a
user would measure by hand (a timing, so a gate here rather than a unit test)."""
from __future__ import annotations

import json
import statistics
import time

import pytest
import torch
from click.testing import CliRunner

import archprof
from archprof.cli import main

BENCH_JSON = ["bench", "resnet18", "--device", "cpu", "--batch-size", "4", "--format", "json"]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a loaded 2-core runner two OpenMP threads that wait for each other at
    every barrier make each step 2-10x slower whenever another job takes a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _bench(args: list[str]) -> dict:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def _plain_steps(model, x, steps: int) -> list[float]:
    """The plain PyTorch timing loop: one warm-up step, then perf_counter around each step."""
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def test_bench_json_agrees_with_a_plain_timing_loop(monkeypatch):
    """`archprof bench resnet18 --device cpu --batch-size 4 --format json` works, and its images/s
    is within 25% of a plain loop over the same model.

    The two are interleaved (plain, bench, plain, bench, ..., plain) so both see the same load on a
    shared machine, and compared by the median over rounds. The first bench round is the exact
    command; further rounds (at least one, at most five) keep the command but shorten the CPU
    schedule to 1 warm-up + 3 timed steps, so that many short rounds average out the noise.
    Both run on one intra-op thread (the autouse fixture above).
    """
    from archprof.bench import options, runner

    torch.manual_seed(0)
    model = archprof.build("resnet18").eval()
    x = torch.randn(4, 3, 224, 224)
    plain = [4 / statistics.median(_plain_steps(model, x, 3))]
    data = _bench(BENCH_JSON)

    assert data["source"] == "resnet18" and data["input_shape"] == [3, 224, 224]
    fp = data["fingerprint"]
    assert fp["device_type"] == "cpu" and fp["precision"] == "fp32" and fp["batch"] == 4 and fp["threads"] == 1
    assert fp["memory_format"] == "contiguous" and fp["compile"] is None and fp["torch"] == torch.__version__
    for key in ("matmul_allow_tf32", "cudnn_allow_tf32", "float32_matmul_precision", "cudnn_benchmark"):
        assert key in fp
    assert data["macs_per_image"] == 1_814_073_344 and data["flops_per_image"] == 2 * data["macs_per_image"]
    assert data["peak"]["measured_flops"] > 0 and data["peak"]["flops"] == data["peak"]["measured_flops"]
    (run,) = data["runs"]
    assert run["mode"] == "infer" and run["batch"] == 4 and run["steps"] >= 5 and run["warmup_steps"] >= 2
    assert run["images_per_s_p10"] <= run["images_per_s"] <= run["images_per_s_p90"]
    assert run["mfu"] == pytest.approx(run["images_per_s"] * data["flops_per_image"] / data["peak"]["flops"])
    assert run["memory_kind"] == "cpu RSS growth" or run["peak_memory_bytes"] is None
    assert data["latency"]["batch"] == 1 and 0 < data["latency"]["p50_ms"] <= data["latency"]["p90_ms"]

    measured = [run["images_per_s"]]
    plain.append(4 / statistics.median(_plain_steps(model, x, 3)))
    monkeypatch.setattr(runner, "CPU_SCHEDULE", options.Schedule(warmup_steps=1, warmup_s=0.0, min_steps=3, min_s=0.0, max_steps=3))

    def ratio() -> float:
        return statistics.median(measured) / statistics.median(plain)

    while len(measured) < 2 or (not 0.75 <= ratio() <= 1.25 and len(measured) < 6):
        measured.append(_bench([*BENCH_JSON, "--no-latency"])["runs"][0]["images_per_s"])
        plain.append(4 / statistics.median(_plain_steps(model, x, 3)))
    rounds = ", ".join(f"{b:.2f}/{p:.2f}" for b, p in zip(measured, plain))
    print(f"bench/plain images/s by round: {rounds}; ratio of medians {ratio():.3f}")
    assert 0.75 <= ratio() <= 1.25, f"bench/plain images/s by round: {rounds}; ratio of medians {ratio():.2f}"
