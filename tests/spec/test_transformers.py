"""ViT, DeiT and TNT: the TNT paper's complexity formulas, the n² cost of attention, and the
transformer ops against their references with weights that make every term matter."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import archprof
from archprof.analysis import analyze
from archprof.errors import ArchprofError


def _block(name: str, index: int = 0, **params) -> nn.Module:
    """Block ``index`` of a bundled spec, built on the meta device."""
    spec = archprof.load_spec(name, params=params or None)
    return archprof.build(spec, device="meta").blocks.get_submodule(str(index))


class _WordsIn(nn.Module):
    """A TNT block fed from one input, the words (n, m, c); its sentences (n + 1, d) are zeros.

    Only the block's own rows carry cost: ``new_zeros`` is free, so the analysis of this module
    is the analysis of the block.
    """

    def __init__(self, block: nn.Module, sentences: int, dim: int):
        super().__init__()
        self.block, self.sentences, self.dim = block, sentences, dim

    def forward(self, pixel):
        patch = pixel.new_zeros(pixel.shape[0], self.sentences, self.dim)  # (B, n + 1, d)
        return self.block(pixel, patch)[1]


def test_deit_block_matches_eq_15_and_16():
    """DeiT-S's block at the paper's n = 196 tokens of width d = 384 (TNT paper Sec. 2.3).

    Eq. 15, FLOPs_T = 2nd(6d + n), counts multiply-accumulates (the paper's "FLOPs" are MACs):
    12nd² for the q/k/v, output and two MLP projections (r = 4) and 2n²d for QKᵀ and AV. It
    leaves out the bias adds, the two LayerNorms, the 1/√d_k scaling, the softmax, GELU and the
    residual adds — none of them a MAC. So our MACs equal the formula exactly, and the paper's
    rounded 376M to its last digit. Our FLOPs (2·MACs + element-wise work) run 0.7% above
    2 × Eq. 15, from exactly those omitted terms: we allow 1%.

    Eq. 16, Params_T = 12d², leaves out the biases (3d q/k/v + d output + 4d + d MLP) and the
    LayerNorm scales and shifts (4d): 13d = 4,992 more, 0.28% of 12d².
    """
    n, d = 196, 384
    a = analyze(_block("deit_small"), input_shape=(n, d))
    eq15 = 2 * n * d * (6 * d + n)
    assert a.totals["macs"] == eq15
    assert abs(eq15 - 376e6) < 0.5e6  # "FLOPs_T = 376M"
    assert 2 * eq15 < a.totals["flops"] < 1.01 * 2 * eq15
    assert a.totals["params"] == 12 * d**2 + 13 * d
    assert (a.totals["params"] - 12 * d**2) / (12 * d**2) < 0.003


def test_tnt_block_matches_eq_17_and_18():
    """TNT-S's block: n = 196 sentences of m = 16 words, c = 24, d = 384 (TNT paper Sec. 2.3).

    Eq. 17, FLOPs_TNT = 2nmc(6c + m) + nmcd + 2nd(6d + n): the inner transformer on n groups of
    m words, the Linear m·c -> d that adds each sentence's words to it, and the outer
    transformer. As Eq. 15 it counts MACs and leaves out biases, norms, softmax, GELU and adds;
    it also uses n for the outer sequence, which carries the class token: n + 1 = 197. With that
    one change our MACs equal the formula exactly; the paper's 429M (n throughout) is 0.4% under
    our count, so we compare it at 1%.

    Eq. 18, Params_TNT = 12c² + mcd + 12d², leaves out the inner biases (the q/k/v have none in
    TNT: output c + MLP 5c), the outer ones (d + 5d), the inner and outer LayerNorms (4c + 4d)
    and the two LayerNorms around the projection (2mc + 2d; the projection has no bias):
    10c + 2mc + 12d = 5,616 more, 0.3%.
    """
    n, m, c, d = 196, 16, 24, 384
    a = analyze(_WordsIn(_block("tnt_s"), n + 1, d), input_shape=(n, m, c))
    eq17 = 2 * n * m * c * (6 * c + m) + n * m * c * d + 2 * (n + 1) * d * (6 * d + n + 1)
    assert a.totals["macs"] == eq17
    assert abs(a.totals["macs"] - 429e6) < 0.01 * 429e6  # "FLOPs_TNT = 429M"
    eq18 = 12 * c**2 + m * c * d + 12 * d**2
    assert a.totals["params"] == eq18 + 10 * c + 2 * m * c + 12 * d
    assert (a.totals["params"] - eq18) / eq18 < 0.003
    # "the FLOPs ratio of the TNT block to the standard one is about 1.14, the params ratio about
    # 1.08": 1.141, and 1.087 (Eq. 18 / Eq. 16), which the paper truncates rather than rounds.
    standard = 2 * (n + 1) * d * (6 * d + n + 1)
    assert round(a.totals["macs"] / standard, 2) == 1.14
    assert 1.08 < eq18 / (12 * d**2) < 1.09


def _attention_matmul_macs(a) -> int:
    """MACs of QKᵀ and AV: the attention module's own ops (``blocks.N.attn.bmm_1``; its Linear children are .qkv/.proj)."""
    return sum(r["macs"] for r in a.layers.to_dict("records") if re.fullmatch(r"blocks\.\d+\.attn\.\w+", r["name"]) and r["type"] != "Linear")


def _projection_macs(a) -> int:
    return sum(r["macs"] for r in a.layers.to_dict("records") if r["name"].startswith("blocks.") and r["type"] == "Linear")


def test_vit_attention_cost_grows_with_the_square_of_the_tokens():
    """ViT-B/16 at 224 (n = 197 tokens) and 384 (n = 577): the QKᵀ and AV matmuls cost 2·L·n²·D,
    so they grow by (577/197)² = 8.6x, while every projection and MLP grows by 577/197 = 2.9x."""
    L, D = 12, 768
    small = analyze(archprof.load_spec("vit_b_16"))
    large = analyze(archprof.load_spec("vit_b_16", params={"image_size": 384}))
    n1, n2 = 197, 577
    attn1, attn2 = _attention_matmul_macs(small), _attention_matmul_macs(large)
    assert (attn1, attn2) == (2 * L * n1**2 * D, 2 * L * n2**2 * D)  # 0.715G: 2 L n² D, the attention matrix products
    assert attn2 * n1**2 == attn1 * n2**2                           # n², not n
    assert _projection_macs(large) * n1 == _projection_macs(small) * n2
    # The totals by hand from Dosovitskiy et al. 2021, Table 1 (ViT-B/16): 17.564G at 224; 55.48G and 86,859,496 params at 384.
    assert round(small.totals["macs"] / 1e9, 3) == 17.564
    assert round(large.totals["macs"] / 1e9, 2) == 55.48
    assert large.totals["params"] == 86_859_496


def test_deit_position_embedding_fixes_the_token_count():
    a = analyze("deit_tiny")
    assert a.input_constraints["min_size"] == [224, 224] and a.input_constraints["max_size"] == [239, 239]
    with pytest.raises(ArchprofError, match=r"layer 'pos_embed'"):
        analyze("deit_tiny", input_shape=(3, 256, 256))


# -- equivalence with weights that make every term count ------------------------------------
@torch.no_grad()
def _redraw(model: nn.Module, seed: int = 0) -> None:
    """Unit-scale weights: init-scale ones (std 0.02) leave attention near-uniform and the
    logits dominated by the head bias, which would hide a wrong q/k split."""
    g = torch.Generator().manual_seed(seed)
    for t in list(model.parameters()) + list(model.buffers()):
        if not t.is_floating_point():
            continue
        if t.dim() <= 1:
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        else:
            fan_in = t.numel() // t.shape[0] if t.shape[0] > 1 else 1
            t.copy_(torch.randn(t.shape, generator=g) / fan_in**0.5)


def _assert_same(name: str, reference: nn.Module, reference_norm: str, params: dict) -> None:
    """Same logits, and the same tokens out of the final LayerNorm: the class token averages
    over all patches, so logits of two random images differ little; each patch token does not."""
    from archprof.verify.equivalence import load_reference_weights, renamed_state_dict

    spec = archprof.load_spec(name, params=params)
    reference.eval()
    _redraw(reference)
    ours = archprof.build(spec, device="meta").eval()
    load_reference_weights(ours, renamed_state_dict(reference, spec.reference.rename))
    tokens = {}
    reference.get_submodule(reference_norm).register_forward_hook(lambda m, i, o: tokens.__setitem__("expected", o))
    ours.norm.register_forward_hook(lambda m, i, o: tokens.__setitem__("got", o))
    x = torch.randn(2, *ours.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert (expected - got).abs().max() <= 1e-4 * expected.abs().max()
    expected, got = tokens["expected"], tokens["got"]
    assert (expected[0] - expected[1]).abs().max() > 0.2 * expected.abs().max()  # the tokens see the input
    assert (expected - got).abs().max() <= 1e-4 * expected.abs().max()


def test_vit_matches_torchvision_multihead_attention_layout():
    """Two small torchvision encoder layers: nn.MultiheadAttention's in_proj is our fused qkv."""
    from torchvision.models.vision_transformer import VisionTransformer

    reference = VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=3, hidden_dim=192, mlp_dim=768)
    _assert_same("vit_b_16", reference, "encoder.ln", {"embed_dim": 192, "depth": 2, "heads": 3})


def test_tnt_matches_timm_with_strong_weights():
    """Two timm TNT-S blocks: the qk/v split, the word embedding and position, words into sentences."""
    import timm

    reference = timm.create_model("tnt_s_patch16_224", depth=2)
    _assert_same("tnt_s", reference, "norm", {"depth": 2})
