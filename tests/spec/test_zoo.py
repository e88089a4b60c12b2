"""Contracts every bundled spec must meet: it builds, its shapes are right, it equals its reference."""
from __future__ import annotations

import pytest
import torch

import archprof
from archprof.spec.compiler import compile_plan
from archprof.spec.plan import resolve

from conftest import HEAVY, ZOO, equivalence

WITH_REFERENCE = [n for n in ZOO if archprof.load_spec(n).reference is not None]
WITHOUT_REFERENCE = [n for n in ZOO if n not in WITH_REFERENCE]


def _shape(out) -> tuple:
    """Without the batch; a multi-output op (chunk, split) gives one shape per output."""
    return tuple(_shape(t) for t in out) if isinstance(out, (tuple, list)) else tuple(out.shape[1:])


@pytest.mark.parametrize("name", ZOO)
def test_plan_shapes_are_the_module_shapes(name):
    """The pure-Python shape rules agree with torch on every leaf, at the spec's input size."""
    plan = resolve(archprof.load_spec(name))
    model = compile_plan(plan, device="meta").eval()
    seen = {}
    modules = dict(model.named_modules())
    for qualified, node in plan.leaves():
        modules[qualified].register_forward_hook(lambda m, i, o, q=qualified: seen.__setitem__(q, _shape(o)))
    out = model(torch.empty(2, *plan.input_shape, device="meta"))
    assert tuple(out.shape) == (2, *plan.root.out_shape)
    wrong = {q: (node.out_shape, seen.get(q)) for q, node in plan.leaves() if seen.get(q) != node.out_shape}
    assert not wrong


@pytest.mark.parametrize("name", WITHOUT_REFERENCE)
def test_forward_on_cpu(name):
    spec = archprof.load_spec(name)
    device = "meta" if name in HEAVY else "cpu"
    model = archprof.build(spec, device=device).eval()
    with torch.no_grad():
        out = model(torch.randn(1, *model.input_shape, device=device))
    assert out.shape[0] == 1 and out.ndim == 2
    if device == "cpu":
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ZOO)
def test_params_match_the_paper_figure(name):
    spec = archprof.load_spec(name)
    figures = [f for f in spec.figures if f.metric == "params" and f.check]
    if not figures:
        pytest.skip(f"{name} quotes no parameter count")
    model = archprof.build(spec, device="meta")
    count = sum(p.numel() for p in model.parameters())
    for figure in figures:
        assert abs(count - figure.scaled()) <= figure.tolerance(), f"{count} vs {figure.value} {figure.unit} ({figure.source})"


@pytest.mark.parametrize("name", WITH_REFERENCE)
def test_equivalent_to_reference(name):
    """Reference weights loaded into the spec give the same logits and the same parameter count."""
    result = equivalence(name)
    assert result.params == result.reference_params
    assert result.relative_diff <= 1e-4, result
    assert result.settings is None, result.settings   # BN eps/momentum, dropout and drop-path rates, in-place flags
