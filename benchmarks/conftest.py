"""Regression gates, run by CI after the test suite, on the gate code archprof ships (:mod:`archprof.gate`):

(a) ``test_snapshots.py`` — the analyser's per-layer output for every bundled spec, against the
    markdown baselines in ``baselines/``;
(b) ``test_analyzer_speed.py`` — the analyser's speed (pytest-benchmark), in units of a
    reference workload measured in the same run, against ``speed/baseline.json`` with
    pytest-benchmark's ``--benchmark-compare-fail=median:100%``;
(c) ``test_gpu_throughput.py`` — images/s on a GPU against ``gpu/<fingerprint>.json``; skipped
    without a GPU;
(d) ``test_bench_agreement.py`` — ``archprof bench`` images/s against a plain timing loop;
(e) ``test_responsiveness.py`` — ``archprof zoo`` and the first lines of ``archprof train``
    against a bare ``import torch`` timed in the same run;
(f) ``test_fast_analysis.py`` — ``archprof analyze --fast`` against a bare ``import torch`` and
    torchinfo, fvcore and ptflops, and a 1,024-variant sweep, in the same run.

Commands (from the repository root)::

    python -m pytest benchmarks -rfEs              # all gates
    python -m pytest benchmarks --bless          # re-bless the snapshots after an intended change
    python -m pytest benchmarks --bless-speed    # re-record the speed baseline (reference units)
    python -m pytest benchmarks --bless-gpu      # record GPU baselines for this machine's fingerprint
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEED_BASELINE = HERE / "speed" / "baseline.json"
SPEED_RECORD = ROOT / ".benchmarks" / "analyzer_speed.json"
COMPARE_FAIL = "median:100%"
REFCLOCK = "archprof.gate.refclock.now"



def pytest_addoption(parser):
    group = parser.getgroup("archprof", "archprof regression gates")
    group.addoption("--bless", action="store_true", help="Rewrite the analyser snapshots (baselines/*.md) instead of checking them.")
    group.addoption("--bless-speed", action="store_true", help="Rewrite speed/baseline.json from this run instead of comparing.")
    group.addoption("--bless-gpu", action="store_true", help="Record this run's GPU throughput under its fingerprint in gpu/.")
    group.addoption("--snapshot-dir", default=str(HERE / "baselines"), help="Folder of the snapshot baselines (default: benchmarks/baselines).")
    group.addoption("--spec", action="append", default=[], metavar="SPEC",
                    help="Snapshot only this spec (bundled name or path; repeatable). Default: every bundled spec.")
    group.addoption("--gpu-dir", default=str(HERE / "gpu"), help="Folder of the GPU throughput baselines (default: benchmarks/gpu).")


def _has_benchmark_plugin(config) -> bool:
    return config.pluginmanager.hasplugin("benchmark") or hasattr(config.option, "benchmark_timer")


def pytest_configure(config):
    """Point pytest-benchmark at the reference clock and the committed baseline (runs before the
    plugin's own trylast ``pytest_configure`` reads these options)."""
    if not _has_benchmark_plugin(config):
        return
    from pytest_benchmark.utils import parse_compare_fail

    option = config.option
    # The baseline comes from another machine by design; reference units keep it comparable.
    config.addinivalue_line("filterwarnings", "ignore:Benchmark machine_info is different")
    if str(getattr(option, "benchmark_timer", "")) in ("", "time.perf_counter", "timeit.default_timer"):
        option.benchmark_timer = REFCLOCK
    if config.getoption("--bless-speed"):
        return
    if not getattr(option, "benchmark_compare", None) and SPEED_BASELINE.exists():
        option.benchmark_compare = str(SPEED_BASELINE)
    if getattr(option, "benchmark_compare", None) and not getattr(option, "benchmark_compare_fail", None):
        option.benchmark_compare_fail = [parse_compare_fail(COMPARE_FAIL)]


def pytest_collection_modifyitems(session, config, items):
    """Keep the pytest-benchmark JSON of speed runs for the record (.benchmarks/analyzer_speed.json)."""
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or bs.json or not any("benchmark" in getattr(item, "fixturenames", ()) for item in items):
        return
    SPEED_RECORD.parent.mkdir(parents=True, exist_ok=True)
    bs.json = str(SPEED_RECORD)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["archprof"] = {
        "unit": "reference units: each round's time divided by the reference workload's time measured just before it",
        "reference": "torchvision resnet50 built on the meta device + one FlopCounterMode forward",
        "compare_fail": COMPARE_FAIL,
    }
    if config.getoption("--bless-speed"):
        from archprof.files import write_text_atomic

        SPEED_BASELINE.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(SPEED_BASELINE, json.dumps(output_json, indent=2, sort_keys=True) + "\n")


def pytest_benchmark_scale_unit(config, unit, benchmarks, best, worst, sort):
    if unit == "seconds" and str(getattr(config.option, "benchmark_timer", "")) == REFCLOCK:
        return "reference unit", 1.0   # pytest-benchmark prints "time in reference units"
    return None


@pytest.fixture(scope="session")
def snapshot_dir(request) -> Path:
    return Path(request.config.getoption("--snapshot-dir"))


@pytest.fixture(scope="session")
def bless(request) -> bool:
    return bool(request.config.getoption("--bless"))
