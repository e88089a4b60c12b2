"""Gate (a): the analyser's totals and per-layer figures for every bundled spec, against the
reviewable markdown baselines in ``benchmarks/baselines/``.

Any change fails with a per-layer diff. After an intended change::

    python -m pytest benchmarks --bless
"""
from __future__ import annotations

from pathlib import Path

import pytest

import archprof
from archprof.files import write_text_atomic
from snapshot_gate import BLESS_COMMAND, baseline_path, diff, parse, render, take


def _specs(config) -> list[str]:
    return list(config.getoption("--spec")) or archprof.zoo_names()


def _label(spec: str) -> str:
    return Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec


def pytest_generate_tests(metafunc):
    if "spec" in metafunc.fixturenames:
        specs = _specs(metafunc.config)
        metafunc.parametrize("spec", specs, ids=[_label(s) for s in specs])


def test_snapshot(spec: str, snapshot_dir: Path, bless: bool):
    name = _label(spec)
    path = baseline_path(snapshot_dir, name)
    snap = take(spec, name)
    text = render(snap)
    if bless:
        snapshot_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            write_text_atomic(path, text)
        return
    if not path.exists():
        pytest.fail(f"{name}: no snapshot baseline at {path}; record it with: {BLESS_COMMAND}", pytrace=False)
    changes = diff(parse(path.read_text(), name), snap)
    if changes:
        pytest.fail(f"{name}: the analysis differs from {path}\n" + "\n".join(changes)
                    + f"\nIf the change is intended, re-bless with: {BLESS_COMMAND}", pytrace=False)
    assert path.read_text() == text, f"{path}: same figures but different formatting; re-bless with: {BLESS_COMMAND}"


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
