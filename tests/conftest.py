"""Shared fixtures: the spec zoo, so every test below runs for every bundled spec."""
from __future__ import annotations

import functools
import os

import pytest

import archprof

pytest_plugins = ["pytester"]

torch = pytest.importorskip("torch")
torch.set_num_threads(min(2, os.cpu_count() or 1))

ZOO = archprof.zoo_names()
# The largest models are checked on the meta device where a real forward would only cost time.
HEAVY = {"convnext_xlarge"}


@pytest.fixture(scope="session")
def specs():
    return {name: archprof.load_spec(name) for name in ZOO}


@functools.lru_cache(maxsize=None)
def equivalence(name: str):
    """The equivalence proof of a zoo spec, run once per test session (it is the slow part)."""
    from archprof.verify.equivalence import check

    return check(archprof.load_spec(name))


@functools.lru_cache(maxsize=None)
def analysis(name: str):
    """The analysis of a zoo spec at its own input, run once per test session."""
    from archprof.analysis import analyze

    return analyze(name)
