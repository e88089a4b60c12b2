"""The clock of the speed gate: ``time.perf_counter`` in units of a reference workload.

``test_analyzer_speed.py`` times the reference workload (a plain torchvision model built on the
meta device plus a ``FlopCounterMode`` forward) right before every timed round and calls
:func:`set_unit` with that duration. pytest-benchmark then times the round with :func:`now`, so
each recorded duration is "analyser time / reference time" of the same moment on the same
machine: the base and the head of the comparison are measured in the same job, and a baseline
recorded on another machine stays comparable. conftest.py selects this clock with
``--benchmark-timer=archprof_refclock.now`` (unless another timer is given).
"""
from __future__ import annotations

import time

_unit = 1.0


def set_unit(seconds: float) -> None:
    global _unit
    _unit = max(float(seconds), 1e-9)


def unit() -> float:
    return _unit


def now() -> float:
    return time.perf_counter() / _unit
