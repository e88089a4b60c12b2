"""Swin ops against torchvision's modules at sizes the zoo specs never reach: odd maps (padding),
maps one window covers (the shift is dropped), non-square windows; and the whole swin_t at an
odd input size, for logits, shape rules and MAC counts."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import swin_transformer as tv

import archprof
from archprof.analysis import analyze
from archprof.spec.compiler import compile_plan
from archprof.errors import SpecError
from archprof.ops.swin import PatchMergingOp, ShiftedWindowAttentionOp
from archprof.spec.plan import resolve


def _same(ours, theirs, x):
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    return got


@pytest.mark.parametrize("hw,window,shift", [
    ((14, 14), (7, 7), (3, 3)),   # whole windows, shifted
    ((9, 13), (7, 7), (3, 3)),    # padded to 14x14, shifted
    ((7, 7), (7, 7), (3, 3)),     # one window covers the map: no shift (Swin-T stage 4 at 224)
    ((5, 3), (7, 7), (3, 3)),     # map smaller than a window: padded, no shift
    ((7, 20), (7, 7), (3, 3)),    # shift dropped along H only
    ((11, 10), (5, 3), (2, 1)),   # non-square window
    ((9, 13), (7, 7), (0, 0)),    # plain W-MSA on a padded map
])
def test_window_attention_matches_torchvision(hw, window, shift):
    torch.manual_seed(0)
    dim, heads = 24, 3
    op = ShiftedWindowAttentionOp(heads=heads, window=window, shift=shift)
    shape = (*hw, dim)
    assert op.shape(shape) == shape
    theirs = tv.ShiftedWindowAttention(dim, list(window), list(shift), heads)
    with torch.no_grad():
        theirs.relative_position_bias_table.normal_()  # a bias big enough to matter
    _same(op.build(shape), theirs, torch.randn(2, *shape))


@pytest.mark.parametrize("hw", [(8, 8), (7, 9), (1, 1), (3, 2)])
def test_patch_merging_matches_torchvision(hw):
    torch.manual_seed(0)
    op = PatchMergingOp()
    shape = (*hw, 16)
    theirs = tv.PatchMerging(16)
    with torch.no_grad():
        theirs.norm.weight.uniform_(0.5, 1.5), theirs.norm.bias.normal_()
    got = _same(op.build(shape), theirs, torch.randn(2, *shape))
    assert tuple(got.shape[1:]) == op.shape(shape) == ((hw[0] + 1) // 2, (hw[1] + 1) // 2, 32)


def test_bounds_leave_the_map_size_free():
    attn, merge = ShiftedWindowAttentionOp(heads=2, window=7, shift=3), PatchMergingOp()
    assert attn.bound((56, 56, 8)) == attn.bound((5, 93, 8)) != attn.bound((56, 56, 16))
    assert merge.bound((56, 56, 8)) == merge.bound((3, 1, 8)) != merge.bound((56, 56, 16))


@pytest.mark.parametrize("args,message", [
    ({"heads": 2, "window": 7, "shift": 7}, "must be smaller than the window"),
    ({"heads": 2, "window": [7, 4], "shift": [3, 4]}, "must be smaller than the window"),
    ({"heads": 0}, "greater than 0"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        ShiftedWindowAttentionOp(**args)


def test_shape_errors():
    from archprof.spec.registry import ShapeError

    with pytest.raises(ShapeError, match="heads must divide"):
        ShiftedWindowAttentionOp(heads=5, window=7).shape((14, 14, 96))
    with pytest.raises(ShapeError, match=r"channels-last \(H, W, C\)"):
        PatchMergingOp().shape((96, 14))


SIZE = (3, 68, 92)  # 17x23 after the stem: padded and shifted, odd merges, then maps one window covers


def test_swin_t_at_an_odd_size_matches_torchvision():
    spec = archprof.load_spec("swin_t")
    plan = resolve(spec, SIZE)
    model = compile_plan(plan, device="cpu").eval()
    reference = tv.swin_t().eval()
    seen = {}
    modules = dict(model.named_modules())
    for qualified, _ in plan.leaves():
        modules[qualified].register_forward_hook(lambda m, i, o, q=qualified: seen.__setitem__(q, tuple(o.shape[1:])))
    logits = _same(model, reference, torch.randn(2, *SIZE))
    assert tuple(logits.shape) == (2, 1000)
    assert {q: node.out_shape for q, node in plan.leaves()} == seen
    assert plan.root.children[0].children[-1].out_shape == (3, 3, 768)  # 17x23 -> 9x12 -> 5x6 -> 3x3


def test_swin_t_macs_at_an_odd_size():
    ours = analyze("swin_t", input_shape=SIZE)
    theirs = analyze("torchvision:swin_t", input_shape=SIZE)
    model = archprof.build("swin_t", device="meta", input_shape=SIZE).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *SIZE, device="meta"))
    assert ours.totals["macs"] == counter.get_total_flops() // 2 == theirs.totals["macs"]
    assert ours.totals["params"] == theirs.totals["params"] == 28_288_354
    assert ours.uncounted_ops == {}


def test_swin_t_accepts_any_size_from_4():
    constraints = analyze("swin_t").input_constraints
    assert constraints["fixed_size"] is False and constraints["min_size"] == [4, 4]


def test_bad_shift_in_a_spec_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        input: [3, 32, 32]
        layers:
          - {op: conv, out: 16, kernel: 4, stride: 4}
          - {op: permute, dims: [1, 2, 0]}
          - {op: shifted_window_attention, heads: 2, window: 4, shift: 4}
    """))
    with pytest.raises(SpecError, match=r"bad.yaml:5: .*must be smaller than the window"):
        resolve(archprof.load_spec(path))


def test_importing_the_ops_does_not_import_torch():
    code = "import sys, archprof.ops.swin; import archprof.ops; assert 'torch' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
