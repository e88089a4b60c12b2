"""Stage 3, verification: every spec against its paper's figures and its reference implementation.

:mod:`.checks` makes the rows of ``archprof verify``; :mod:`.equivalence` is the proof that a spec
is its reference (same weights in, same logits out).
"""
from archprof.verify.checks import (
    FAIL,
    INFO,
    PASS,
    Check,
    equivalence_check,
    figure_checks,
    measure_figures,
    training_check,
    verify,
)

__all__ = ["Check", "FAIL", "INFO", "PASS", "equivalence_check", "figure_checks", "measure_figures", "training_check", "verify"]
