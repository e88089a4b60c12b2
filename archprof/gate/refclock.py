"""A pytest-benchmark clock in units of a reference workload: ``time.perf_counter`` divided by it.

A benchmark times its reference workload right before every timed round and calls
:func:`set_unit` with that duration; pytest-benchmark, run with
``--benchmark-timer=archprof.gate.refclock.now``, then times the round with :func:`now`, so each
recorded duration is "time / reference time" of the same moment on the same machine. Base and
head of a comparison are measured in the same job, and a baseline recorded on another machine
stays comparable. archprof's own analyser-speed gate (``benchmarks/test_analyzer_speed.py``) works
this way; :mod:`archprof.gate.speed` applies the same idea to a model's step time.
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
