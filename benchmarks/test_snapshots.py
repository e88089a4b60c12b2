"""Gate (a): the analyser's totals and per-layer figures for every bundled spec, against the
reviewable markdown baselines in ``benchmarks/baselines/``.

This is the gate archprof ships for its users (:mod:`archprof.gate`, the same files and diffs as
``archprof gate``), run over the zoo. Any change fails with a per-layer diff. After an intended
change::

    python -m pytest benchmarks --bless
"""
from __future__ import annotations

from pathlib import Path

import pytest

import archprof
from archprof.gate.check import GateOptions, run_gate

BLESS_COMMAND = "python -m pytest benchmarks --bless"


def _specs(config) -> list[str]:
    return list(config.getoption("--spec")) or archprof.zoo_names()


def _label(spec: str) -> str:
    return Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec


def pytest_generate_tests(metafunc):
    if "spec" in metafunc.fixturenames:
        specs = _specs(metafunc.config)
        metafunc.parametrize("spec", specs, ids=[_label(s) for s in specs])


def test_snapshot(spec: str, snapshot_dir: Path, bless: bool):
    result = run_gate(spec, GateOptions(snapshot_dir, bless=bless), name=_label(spec), bless_hint=BLESS_COMMAND)
    failures = result.failures()
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def test_no_stale_baselines(request, snapshot_dir: Path, bless: bool):
    """Every baseline belongs to a bundled spec (only checked for the whole zoo)."""
    if request.config.getoption("--spec"):
        pytest.skip("--spec given: only the named specs are checked")
    names = set(archprof.zoo_names())
    stale = sorted(p for p in snapshot_dir.glob("*.md") if p.stem not in names)
    if bless:
        for p in stale:
            p.unlink()
        return
    assert not stale, f"baselines without a bundled spec: {', '.join(p.name for p in stale)}; remove them with: {BLESS_COMMAND}"
