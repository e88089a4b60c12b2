"""The cost table: free ops really do no arithmetic; products have closed forms; the README lists the free groups."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from archprof.analysis import analyze
from archprof.analysis.formulas import FREE_GROUPS, PRODUCTS, cost_of

aten = torch.ops.aten
X = torch.randn(2, 3, 4, 5, dtype=torch.float64)
I = torch.tensor([2, 0, 1])

#: One real call per free op of the data-movement groups (the "new tensors" group makes values of its own).
CALLS = {
    "view": lambda: aten.view(X, [6, 20]), "_unsafe_view": lambda: aten._unsafe_view(X, [6, 20]),
    "reshape": lambda: aten.reshape(X, [120]), "_reshape_alias": lambda: aten._reshape_alias(X, [6, 20], [20, 1]),
    "expand": lambda: aten.expand(X[:, :1], [2, 7, 4, 5]), "expand_as": lambda: X[:1].expand_as(X),
    "unsqueeze": lambda: aten.unsqueeze(X, 1), "squeeze": lambda: aten.squeeze(X[:, :1], 1),
    "flatten": lambda: aten.flatten(X, 1), "unflatten": lambda: aten.unflatten(X, 1, [3, 1]),
    "select": lambda: aten.select(X, 1, 2), "slice": lambda: aten.slice(X, 3, 1, 5, 2),
    "split": lambda: aten.split(X, 2, 3), "split_with_sizes": lambda: aten.split_with_sizes(X, [1, 4], 3),
    "unsafe_split": lambda: aten.unsafe_split(X, 2, 3), "unsafe_split_with_sizes": lambda: aten.unsafe_split_with_sizes(X, [2, 3], 3),
    "chunk": lambda: aten.chunk(X, 2, 1), "unbind": lambda: aten.unbind(X, 1), "narrow": lambda: aten.narrow(X, 2, 1, 2),
    "diagonal": lambda: aten.diagonal(X, 0, 2, 3), "alias": lambda: aten.alias(X), "detach": lambda: aten.detach(X),
    "as_strided": lambda: aten.as_strided(X, [3, 3], [2, 7]), "view_as": lambda: X.view_as(X), "unfold": lambda: aten.unfold(X, 3, 2, 1),
    "t": lambda: aten.t(X[0, 0]),
    "permute": lambda: aten.permute(X, [0, 2, 3, 1]), "transpose": lambda: aten.transpose(X, 1, 3),
    "movedim": lambda: aten.movedim(X, 1, 3), "flip": lambda: aten.flip(X, [2, 3]), "roll": lambda: aten.roll(X, [2], [3]),
    "cat": lambda: aten.cat([X, X[:, :1]], 1), "stack": lambda: aten.stack([X, X], 2),
    "repeat": lambda: aten.repeat(X, [1, 2, 1, 1]), "tile": lambda: aten.tile(X, [2, 1]),
    "clone": lambda: aten.clone(X), "contiguous": lambda: X.transpose(1, 2).contiguous(),
    "copy": lambda: aten.copy(torch.zeros_like(X), X), "_to_copy": lambda: aten._to_copy(X), "to": lambda: X.to(torch.float64, copy=True),
    "lift_fresh": lambda: aten.lift_fresh(X), "lift_fresh_copy": lambda: aten.lift_fresh_copy(X),
    "index": lambda: aten.index(X, [None, I]), "_unsafe_index": lambda: aten._unsafe_index(X, [None, I]),
    "index_select": lambda: aten.index_select(X, 1, I), "gather": lambda: aten.gather(X, 1, torch.zeros_like(X, dtype=torch.long)),
    "masked_select": lambda: aten.masked_select(X, X > 0),
    "slice_scatter": lambda: aten.slice_scatter(X, X[..., :2], 3, 0, 2), "select_scatter": lambda: aten.select_scatter(X, X[:, 0], 1, 0),
    "im2col": lambda: aten.im2col(X, [2, 2], [1, 1], [1, 1], [1, 1]),
    "constant_pad_nd": lambda: aten.constant_pad_nd(X, [1, 2, 0, 1]),
    "reflection_pad1d": lambda: aten.reflection_pad1d(X[0], [1, 2]), "reflection_pad2d": lambda: aten.reflection_pad2d(X, [1, 2, 1, 0]),
    "reflection_pad3d": lambda: aten.reflection_pad3d(X[None], [1, 1, 1, 1, 1, 1]),
    "replication_pad1d": lambda: aten.replication_pad1d(X[0], [1, 2]), "replication_pad2d": lambda: aten.replication_pad2d(X, [1, 2, 1, 0]),
    "replication_pad3d": lambda: aten.replication_pad3d(X[None], [1, 1, 1, 1, 1, 1]),
    "upsample_nearest1d": lambda: aten.upsample_nearest1d(X[0], [9]), "upsample_nearest2d": lambda: aten.upsample_nearest2d(X, [7, 9]),
    "upsample_nearest3d": lambda: aten.upsample_nearest3d(X[None], [3, 7, 9]),
    "_upsample_nearest_exact2d": lambda: aten._upsample_nearest_exact2d(X, [7, 9]),
}
MOVING = sorted(name for group, names in FREE_GROUPS.items() if group != "new tensors" for name in names.split())


def _values(out) -> set[float]:
    if isinstance(out, (list, tuple)):
        return set().union(*(_values(o) for o in out))
    return set(out.detach().flatten().tolist())


@pytest.mark.parametrize("name", MOVING)
def test_free_ops_only_move_data(name):
    """Every output value is an input value or a padding zero: no arithmetic happened."""
    assert name in CALLS, f"free op '{name}' needs a call in CALLS to prove it does no arithmetic"
    out = CALLS[name]()
    assert _values(out) <= _values(X) | {0.0}
    assert cost_of(name, (X,), {}, out).flops == 0


def test_the_readme_lists_exactly_the_free_groups():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = re.search(r"^\s*\| (views, .*?) \| 0 \|$", readme, re.M).group(1)
    groups = [g.split(" (")[0].strip() for g in re.split(r",\s*(?![^()]*\))", row)]
    assert groups == list(FREE_GROUPS)


@pytest.mark.parametrize("name,call", [
    ("sort", lambda: (aten.sort(X, 3), 2 * 3 * 4 * 5 * 3)),         # n·⌈log2 n⌉ per slice: 5·3 over 24 slices
    ("topk", lambda: (aten.topk(X, 2, 3), 2 * 3 * 4 * 5)),          # k = 2: one pass of n per slice
    ("col2im", lambda: (aten.col2im(torch.randn(1, 4, 9), [4, 4], [2, 2], [1, 1], [0, 0], [1, 1]), 36)),
])
def test_work_that_is_not_free(name, call):
    out, flops = call()
    args = {"sort": (X, 3), "topk": (X, 2, 3), "col2im": (torch.randn(1, 4, 9),)}[name]
    assert cost_of(name, args, {}, out).flops == flops


class Products(nn.Module):
    """One of each product FlopCounterMode has no formula for, sizes chosen so that each closed form differs."""

    def __init__(self):
        super().__init__()
        self.bilinear = nn.Bilinear(5, 7, 3)
        self.a = nn.Parameter(torch.randn(11, 5))
        self.batches = nn.Parameter(torch.randn(4, 5, 6))
        self.bias = nn.Parameter(torch.randn(6, 6))

    def forward(self, x):                                                   # x: (2, 5)
        v = x[0]
        mv = torch.mv(self.a, v)                                            # 11·5
        dot = torch.dot(v, v)                                               # 5
        addmv = torch.addmv(mv, self.a, v)                                  # 11·5, plus 11 bias adds
        addr = torch.addr(self.a, mv, v)                                    # 11·5
        addbmm = torch.addbmm(self.bias, self.batches.transpose(1, 2), self.batches)  # 4·6·5·6, plus 36 bias adds
        bi = self.bilinear(x, x.new_ones(2, 7))                             # 2·3·5·7
        return mv.sum() + dot + addmv.sum() + addr.sum() + addbmm.sum() + bi.sum()


def test_products_have_closed_forms():
    a = analyze(Products(), input_shape=(5,), batch=2)
    macs: dict[str, int] = {}
    for r in a.records:
        macs[r["type"]] = macs.get(r["type"], 0) + r["macs"]
    assert (macs["mv"], macs["dot"], macs["addmv"], macs["addr"], macs["addbmm"]) == (55, 5, 55, 55, 4 * 6 * 5 * 6)
    rows = {r["name"]: r for r in a.records}
    assert rows["bilinear"]["macs"] == 2 * 3 * 5 * 7
    assert rows["bilinear"]["flops"] == 3 * (2 * 3 * 5 * 7) + 2 * 3   # three per term, plus the bias add
    assert a.totals["macs"] == 55 + 5 + 55 + 55 + 4 * 6 * 5 * 6 + 2 * 3 * 5 * 7
    assert a.uncounted_ops == {}


def test_products_are_all_listed():
    assert set(PRODUCTS) == {"mv", "addmv", "dot", "vdot", "addbmm", "addr", "_trilinear"}
