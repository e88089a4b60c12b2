"""The tensor ops' shape rules against PyTorch on random shapes and arguments, and their receptive
fields and FLOPs in the analysis."""
from __future__ import annotations

import random

import pytest
import torch

import archprof
from archprof import ops
from archprof.analysis import analyze
from archprof.spec.registry import ShapeError

OPS = ops.load()


def _random_case(kind: str, rng: random.Random) -> tuple[dict, tuple[int, ...]]:
    shape = tuple(rng.randint(1, 9) for _ in range(rng.randint(1, 4)))
    dim = rng.randrange(-len(shape), len(shape))
    if kind == "chunk":
        return {"chunks": rng.randint(1, 5), "dim": dim}, shape
    if kind == "split":
        n = shape[dim]
        cuts = sorted(rng.sample(range(1, n), rng.randint(0, min(3, n - 1)))) if n > 1 else []
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
        if rng.random() < 0.2:
            sizes[-1] += 1   # a wrong total: the rule must refuse it
        return {"sizes": sizes, "dim": dim}, shape
    if kind == "reshape":
        total = 1
        for d in shape:
            total *= d
        sizes = [d for d in shape]
        rng.shuffle(sizes)
        if rng.random() < 0.5:
            sizes[rng.randrange(len(sizes))] = -1
        return {"shape": sizes}, shape
    if kind == "unflatten":
        n = shape[dim]
        first = rng.choice([d for d in range(1, n + 1) if n % d == 0] + [2])
        return {"dim": dim, "sizes": [first, -1]}, shape
    if kind == "transpose":
        return {"dims": [dim, rng.randrange(-len(shape), len(shape))]}, shape
    if kind == "slice":
        n = shape[dim]
        pick = lambda: rng.choice([None, rng.randint(-n - 1, n + 1)])  # noqa: E731
        return {"dim": dim, "start": pick(), "end": pick(), "step": rng.randint(1, 3)}, shape
    if kind == "upsample":
        image = (rng.randint(1, 4), rng.randint(1, 9), rng.randint(1, 9))
        mode = rng.choice(["nearest", "nearest-exact", "bilinear", "bicubic"])
        if rng.random() < 0.5:
            return {"scale": rng.choice([1, 2, 3, 0.5, 1.5]), "mode": mode}, image
        return {"size": [rng.randint(1, 12), rng.randint(1, 12)], "mode": mode}, image
    if kind == "pad":
        image = (rng.randint(1, 4), rng.randint(1, 9), rng.randint(1, 9))
        return {"padding": [rng.randint(0, 4) for _ in range(4)], "mode": rng.choice(["constant", "reflect", "replicate"]),
                "value": rng.choice([0.0, 1.5])}, image
    raise AssertionError(kind)


def _torch_shapes(module, x: torch.Tensor):
    out = module(x)
    return tuple(tuple(t.shape[1:]) for t in out) if isinstance(out, tuple) else tuple(out.shape[1:])


@pytest.mark.parametrize("kind", ["chunk", "split", "reshape", "unflatten", "transpose", "slice", "upsample", "pad"])
def test_shape_rules_agree_with_pytorch(kind):
    """200 random cases each: where the rule gives a shape, the built module produces exactly it;
    where the rule refuses, PyTorch either refuses too or would give another number of outputs."""
    rng = random.Random(kind)
    agreed = refused = 0
    for _ in range(200):
        args, shape = _random_case(kind, rng)
        try:
            op = OPS[kind].model_validate(args)
            expected = op.shape(shape)
        except (ShapeError, ValueError):
            refused += 1
            continue
        got = _torch_shapes(op.build(shape), torch.zeros(2, *shape))
        assert got == expected, (kind, args, shape)
        agreed += 1
    assert agreed > 50, f"too few valid cases for {kind}: {agreed} (refused {refused})"


def _spec(tmp_path, layers: str, shape: str = "[1, 8, 8]"):
    path = tmp_path / "t.yaml"
    path.write_text(f"input: {shape}\nlayers:\n{layers}")
    return archprof.load_spec(path)


def _rows(tmp_path, layers: str, shape: str = "[1, 8, 8]") -> dict:
    return {r["name"]: r for r in analyze(_spec(tmp_path, layers, shape)).records}


def test_channel_shuffle_keeps_the_receptive_field_and_costs_nothing(tmp_path):
    rows = _rows(tmp_path, """\
  - {name: conv, op: conv, out: 8, kernel: 3}
  - {name: groups, op: unflatten, dim: 0, sizes: [2, -1]}
  - {name: swap, op: transpose, dims: [0, 1]}
  - {name: merged, op: flatten, start: 0, end: 1}
""")
    assert rows["merged"]["receptive_field"] == "3x3 /1" and rows["merged"]["output_shape"] == (1, 8, 6, 6)
    assert rows["groups"]["flops"] == rows["swap"]["flops"] == rows["merged"]["flops"] == 0


def test_strided_slicing_and_upsampling_change_the_jump(tmp_path):
    rows = _rows(tmp_path, """\
  - {name: conv, op: conv, out: 4, kernel: 3, padding: 1}
  - {name: every_other, op: slice, dim: 2, step: 2}
  - {name: rows_too, op: slice, dim: 1, step: 2}
  - {name: up, op: upsample, scale: 2, mode: bilinear}
""", "[1, 16, 16]")
    assert rows["every_other"]["rf_jump"] == (1, 2) and rows["rows_too"]["rf_jump"] == (2, 2)
    assert rows["up"]["rf_size"] == (5, 5) and rows["up"]["rf_jump"] == (1, 1)   # 2 taps of jump 2 widen by 2
    assert rows["up"]["flops"] == 7 * 4 * 16 * 16                               # 4 taps: 4 multiplies, 3 adds


def test_chunk_outputs_feed_named_branches(tmp_path):
    spec = _spec(tmp_path, """\
  - {name: conv, op: conv, out: 8, kernel: 1}
  - {name: halves, op: chunk, chunks: 2, outputs: [a, b]}
  - {name: branch, from: b, op: conv, out: 4, kernel: 3, padding: 1}
  - {name: cat, op: concat, from: [a, branch]}
""")
    model = archprof.build(spec)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 8, 8, 8)
    wrong = tmp_path / "w.yaml"
    wrong.write_text("input: [1, 8, 8]\nlayers:\n  - {op: conv, out: 6, kernel: 1}\n  - {op: chunk, chunks: 4, outputs: [a, b, c, d]}\n")
    with pytest.raises(archprof.SpecError, match="6 along dim 0 gives 3 chunks, not 4"):
        archprof.load_spec(wrong) and archprof.resolve(wrong)
