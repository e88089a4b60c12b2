"""The pytest plugin that ``pip install archprof`` registers (entry point ``pytest11``): the
``archprof_gate`` fixture, checking a model against its baseline analysis inside the user's tests::

    def test_mynet_is_unchanged(archprof_gate):
        archprof_gate.check(MyNet(), input=(3, 224, 224), name="mynet", budgets=["params<=5M"])

Baselines live in ``tests/archprof_baselines/`` under the rootdir (``--archprof-baselines DIR``);
``pytest --archprof-bless`` writes or rewrites them. A changed figure fails the test with the
per-layer diff as its message; so does a missing baseline, naming the command that records it.
Importing this module imports neither torch nor the analyser: pytest loads it in every session.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BLESS_HINT = "pytest --archprof-bless"


def pytest_addoption(parser):
    group = parser.getgroup("archprof", "archprof gates (the archprof_gate fixture)")
    group.addoption("--archprof-baselines", metavar="DIR", default=None,
                    help="Folder of the archprof_gate baselines (default: tests/archprof_baselines under the rootdir).")
    group.addoption("--archprof-bless", action="store_true", help="Write or rewrite the archprof_gate baselines instead of checking them.")


class ArchprofGate:
    """What the fixture gives a test: :meth:`check`, with the session's baseline folder and bless flag."""

    def __init__(self, baselines: Path, bless: bool):
        self.baselines = baselines
        self.bless = bless

    def check(self, source: Any, *, input: tuple[int, ...] | None = None, name: str | None = None,  # noqa: A002 (the documented name)
              budgets: list[str] | tuple[str, ...] = (), tolerances: dict[str, float] | list[str] | None = None,
              batch: int = 1, dtype: str = "fp32", params: dict[str, Any] | None = None):
        """Analyse ``source`` (an ``nn.Module``, a spec, or any ``archprof analyze`` SOURCE) and fail the
        test unless it matches ``<baselines>/<name>.md`` and holds every budget. ``tolerances`` are
        fractions by field (``{"macs": 0.005}``) or texts (``["macs=0.5%"]``). Returns the result."""
        from archprof.errors import ArchprofError
        from archprof.gate.check import GateOptions, run_gate
        from archprof.gate.snapshot import parse_tolerances

        if isinstance(tolerances, (list, tuple)):
            tolerances = parse_tolerances(list(tolerances))
        options = GateOptions(self.baselines, self.bless, tuple(budgets), dict(tolerances or {}),
                              tuple(input) if input is not None else None, batch, dtype)
        try:
            result = run_gate(source, options, name=name, bless_hint=BLESS_HINT, params=params)
        except ArchprofError as exc:
            pytest.fail(f"archprof_gate: {exc}", pytrace=False)
        failures = result.failures()
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)
        return result


@pytest.fixture
def archprof_gate(request) -> ArchprofGate:
    """Check models against their archprof baselines: ``archprof_gate.check(model, input=..., name=...)``."""
    folder = request.config.getoption("--archprof-baselines")
    baselines = Path(folder) if folder else Path(request.config.rootpath) / "tests" / "archprof_baselines"
    return ArchprofGate(baselines, bool(request.config.getoption("--archprof-bless")))
