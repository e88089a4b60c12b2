"""Input constraints of library models agree with real meta forwards: at the analysed size, at both
ends of every claimed range, just outside them, and beside the allowed remainders."""
from __future__ import annotations

import pytest
import torch

from archprof.analysis import analyze, build_on_meta
from archprof.analysis.constraints import Constraints, derive, explore
from archprof.analysis.sources import open_source

# models whose size rules are unusual: fixed sizes, windows, halos, strides with floors, patch grids
MODELS = [
    "torchvision:vit_b_16", "torchvision:vit_h_14", "torchvision:swin_t", "torchvision:maxvit_t", "torchvision:inception_v3",
    "torchvision:alexnet", "torchvision:squeezenet1_0", "torchvision:regnet_y_400mf", "torchvision:shufflenet_v2_x0_5",
    "timm:dla34", "timm:coatnet_0_rw_224", "timm:halonet26t", "timm:maxvit_tiny_tf_224", "timm:levit_128",
    "timm:deit_tiny_patch16_224", "timm:swin_tiny_patch4_window7_224", "timm:pit_ti_224", "timm:xcit_nano_12_p16_224",
    "timm:mobilevit_xxs", "timm:poolformer_s12", "timm:edgenext_xx_small",
]


def _expand(ranges) -> list[int]:
    return [s for a, b in ranges for s in range(a, b + 1)]


def _forward(model, channels: int):
    def works(size: int) -> bool:
        try:
            with torch.no_grad():
                model(torch.empty(1, channels, size, size, device="meta"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not this size"
            return False

    return works


def check_claims(c: dict, works, analysed: int) -> None:
    assert analysed == c["analysed"] and works(analysed)
    lo = c["min_size"][0]
    assert works(lo)
    if c["multiple_of"] is None:   # sizes as seen: the extremes are pinned by failing sizes beside them
        hi = c["max_size"][0]
        assert works(hi)
        assert lo == 1 or not works(lo - 1)
        assert hi == c["probed_up_to"] or not works(hi + 1)
        return
    m, residues = c["multiple_of"], set(c["residues"])
    allowed = [s for s in range(1, c["probed_up_to"] + 1) if s % m in residues]
    below = [s for s in allowed if s < lo]
    assert not below or not works(below[-1]), f"{below[-1]} is allowed below the minimum {lo} and works"
    if c["max_size"]:
        hi = c["max_size"][0]
        assert works(hi)
        above = [s for s in allowed if s > hi]
        assert not above or not works(above[0]), f"{above[0]} is allowed above the maximum {hi} and works"
    else:
        hi = allowed[-1]
        assert works(hi), f"no upper bound was claimed, but {hi} fails"
    for r in residues:   # just outside the allowed remainders, beside the analysed size
        for outside in ((r + 1) % m, (r - 1) % m):
            size = analysed + 1 + (outside - analysed - 1) % m
            if outside not in residues and lo <= size <= hi:
                assert not works(size), f"{size} ({outside} mod {m}) works although it is not allowed"


@pytest.mark.parametrize("source", MODELS)
def test_library_constraints_hold(source):
    a = analyze(source)
    model = build_on_meta(open_source(source)).eval()
    c = a.input_constraints
    assert c["valid"] and set(_expand(c["valid"])) <= set(_expand(c["probed"]))
    check_claims(c, _forward(model, a.input_shape[0]), a.input_shape[-1])


def test_dynamic_size_vit_is_not_bounded_by_a_guess():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", dynamic_img_size=True)
    c = analyze(model, input_shape=(3, 224, 224)).input_constraints
    assert (c["multiple_of"], c["residues"], c["min_size"], c["max_size"]) == (16, [0], [16, 16], None)
    check_claims(c, _forward(build_on_meta(open_source(model)).eval(), 3), 224)


def test_vit_h_without_input_uses_a_size_the_built_model_accepts():
    a = analyze("torchvision:vit_h_14")
    assert a.input_shape == (3, 224, 224) and a.input_constraints["fixed_size"]


def test_explicit_input_is_where_probing_starts():
    c = analyze("torchvision:vit_b_16", input_shape=(3, 224, 224)).input_constraints
    assert c["analysed"] == 224


def _rule(valid):
    return lambda size: None if valid(size) else "no"


@pytest.mark.parametrize("valid,expected", [
    (lambda s: s >= 32, (1, (0,), 32, None)),                         # a stride chain with a minimum
    (lambda s: s % 32 == 0, (32, (0,), 32, None)),                    # a patch grid
    (lambda s: s % 32 in (0, 31), (32, (0, 31), 31, None)),           # floors: one short of a multiple works too
    (lambda s: 224 <= s <= 239, (1, (0,), 224, 239)),                 # a fixed grid behind a floored patch conv
    (lambda s: s == 224, (1, (0,), 224, 224)),                        # exactly one size
    (lambda s: s % 7 == 0 and 112 <= s <= 448, (7, (0,), 112, 448)),  # windows with a position table
])
def test_explore_finds_the_rule_and_pins_its_ends(valid, expected):
    c = explore(_rule(valid), 224, cap=896)
    assert (c.multiple_of, c.residues, c.min_size, c.max_size) == expected
    check_claims(c.as_dict(), valid, 224)


def test_explore_lists_what_it_saw_when_no_rule_explains_it():
    valid = {221, 222, 223, 224, 448, 896}.__contains__
    c = explore(_rule(valid), 224, cap=896)
    assert c.multiple_of is None and "works at 221-224, 448, 896 of the sizes tried" in c.describe()
    check_claims(c.as_dict(), valid, 224)


def test_specs_are_probed_at_every_size_and_include_the_analysed_one():
    c: Constraints = derive(_rule(lambda s: s >= 8), 2000)
    assert c.probed[-1] == 2000 and c.min_size == 8 and c.max_size is None
