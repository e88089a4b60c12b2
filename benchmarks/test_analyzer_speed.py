"""Gate (b): the analyser's own speed on the CPU, with pytest-benchmark.

Timings are in *reference units*: before every timed round the reference workload (torchvision's
ResNet-50 built on the meta device plus one ``FlopCounterMode`` forward: the plain-PyTorch way to
count FLOPs) is timed, and the round is divided by the median of the last three reference times
(``archprof.gate.refclock``). Base and head are
thus measured in the same job, interleaved round by round, and the committed baseline
(``speed/baseline.json``, pytest-benchmark's JSON) stays meaningful on another machine.
conftest.py compares against it with ``--benchmark-compare-fail=median:100%``: the gate fails
when the analyser becomes twice as slow relative to the reference, which a noisy 2-core runner
does not reach by chance. The run's pytest-benchmark JSON is kept in
``.benchmarks/analyzer_speed.json`` (seconds of each round in ``extra_info``).

Re-record the baseline (after an intended change, or a faster analyser) with::

    python -m pytest benchmarks/test_analyzer_speed.py --bless-speed
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest
import torch

from archprof.gate import refclock

SPEED_BASELINE = Path(__file__).resolve().parent / "speed" / "baseline.json"

WORKLOADS = ["resnet50", "deit_tiny"]
ROUNDS = 5


def reference() -> int:
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = torchvision.models.resnet50()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    return counter.get_total_flops()


@pytest.mark.parametrize("spec", WORKLOADS)
def test_analyze_speed(benchmark, spec, request):
    from archprof.analysis import analyze

    blessing = request.config.getoption("--bless-speed")
    if not blessing:
        if not SPEED_BASELINE.exists():
            pytest.fail(f"no speed baseline {SPEED_BASELINE}; record one with: python -m pytest benchmarks --bless-speed", pytrace=False)
        names = {b["fullname"] for b in json.loads(SPEED_BASELINE.read_text())["benchmarks"]}
        if benchmark.fullname not in names:
            pytest.fail(f"{benchmark.fullname} is not in {SPEED_BASELINE}; record it with: python -m pytest benchmarks --bless-speed",
                        pytrace=False)
    analyze(spec)          # first use: imports and caches, as for the reference below
    reference()
    refs: list[float] = []

    def setup():
        start = time.perf_counter()
        reference()
        refs.append(time.perf_counter() - start)
        refclock.set_unit(statistics.median(refs[-3:]))   # smooths the reference's own noise

    try:
        result = benchmark.pedantic(analyze, args=(spec,), setup=setup, rounds=ROUNDS, warmup_rounds=1)
    finally:
        refclock.set_unit(1.0)
    assert result.totals["macs"] > 0
    units = [statistics.median(refs[max(0, i - 2):i + 1]) for i in range(len(refs))][1:]  # [0] was the warm-up round's
    benchmark.extra_info["reference_seconds"] = refs[1:]
    benchmark.extra_info["reference_median_seconds"] = statistics.median(refs[1:])
    if benchmark.stats is not None:
        seconds = [r * u for r, u in zip(benchmark.stats.stats.data, units)]
        benchmark.extra_info["analyze_seconds"] = seconds
        benchmark.extra_info["analyze_median_seconds"] = statistics.median(seconds)
