"""Swin Transformer ops on channels-last maps (H, W, C): shifted-window attention and patch merging.

Both mirror torchvision's ``swin_transformer`` module for module and operation for operation
(parameter names, padding to window multiples, shift shrinking, the -100 mask, the order of the
matmuls), so torchvision state_dicts load unchanged and the logits agree to rounding. The
modules are defined on first use (:func:`__getattr__`), so importing the op registry, and hence
validating a spec, never imports torch.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from archprof._lazy import deferred_definitions
from archprof.spec import costs
from archprof.spec.costs import Step, Tally, Tensor
from archprof.spec.registry import Op, Pad2, PositiveInt, Probability, Shape, ShapeError, Size2, pair, register


SOFTMAX_FLOPS = 5   # max, subtract, exp, sum, divide (analysis/formulas.py)


def _map(x: Shape, kind: str) -> Shape:
    if len(x) != 3:
        got = "x".join(map(str, x)) if x else "scalar"
        raise ShapeError(f"{kind} needs a channels-last (H, W, C) map, got {got}")
    return x


@register("shifted_window_attention")
class ShiftedWindowAttentionOp(Op):
    """Swin (V1) window multi-head self-attention with a relative position bias, on (H, W, C).

    The map is zero-padded at the bottom/right to multiples of ``window`` (any size is accepted),
    cyclically shifted by ``shift`` (dropped on an axis where one window covers the padded map,
    as in torchvision), split into windows, attended with a ``relative_position_bias_table`` and
    the shifted-window mask, and un-shifted and cropped back. Parameters as torchvision's
    ``ShiftedWindowAttention``: ``qkv``, ``proj``, ``relative_position_bias_table`` and the
    buffer ``relative_position_index``.
    """

    heads: PositiveInt
    window: Size2 = 7
    shift: Pad2 = 0
    qkv_bias: bool = True
    proj_bias: bool = True
    attention_dropout: Probability = 0.0
    dropout: Probability = 0.0

    @model_validator(mode="after")
    def _shift_inside_window(self):
        if any(s >= w for s, w in zip(pair(self.shift), pair(self.window))):
            raise ValueError(f"shift {self.shift} must be smaller than the window {self.window}")
        return self

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[-1])  # any H, W: the map is padded to whole windows

    def shape(self, x: Shape) -> Shape:
        c = _map(x, self.kind)[-1]
        if c % self.heads:
            raise ShapeError(f"{self.heads} heads must divide the {c} channels")
        return x

    def build(self, x: Shape):
        return _module("ShiftedWindowAttention")(
            x[-1], pair(self.window), pair(self.shift), self.heads,
            self.qkv_bias, self.proj_bias, self.attention_dropout, self.dropout,
        )

    def cost(self, x: Tensor) -> Step:
        """``shifted_window_attention`` below, op by op."""
        t = Tally()
        (wh, ww), (sh, sw), heads = pair(self.window), pair(self.shift), self.heads
        B, H, W, C = x.shape
        pH, pW = H + (wh - H % wh) % wh, W + (ww - W % ww) % ww
        x = t.made(costs.new((B, pH, pW, C)))   # F.pad copies even when it adds nothing
        sh, sw = (0 if wh >= pH else sh), (0 if ww >= pW else sw)
        if sh + sw > 0:
            x = t.made(costs.new(x.shape))   # roll
        nw, n, dh = (pH // wh) * (pW // ww), wh * ww, C // heads
        x = t.reshape(costs.permuted(costs.reshaped(x, (B, pH // wh, wh, pW // ww, ww, C)), (0, 1, 3, 2, 4, 5)), (B * nw, n, C))
        qkv = costs.permuted(costs.reshaped(t.linear(x, 3 * C, self.qkv_bias), (B * nw, n, 3, heads, dh)), (2, 0, 3, 1, 4))
        q = k = v = costs.selected(qkv, 0)
        attn = t.matmul(t.elementwise(q), costs.permuted(k, (0, 1, 3, 2)))
        table = (2 * wh - 1) * (2 * ww - 1)
        t.made(costs.new((n * n, heads)))          # the table indexed by relative_position_index
        t.made(costs.new((heads, n, n)))           # viewed as (n, n, heads), permuted to (heads, n, n), made contiguous
        attn = t.elementwise(attn)
        if sh + sw > 0:
            mask = t.made(costs.new((pH, pW)))
            t.written += 9                        # one scalar per region filled, copied in place
            mask = t.reshape(costs.permuted(costs.reshaped(mask, (pH // wh, wh, pW // ww, ww)), (0, 2, 1, 3)), (nw, n))
            mask = t.elementwise(costs.new((nw, n, n)))                     # mask[:, None] - mask[:, :, None]
            for _ in range(2):                                              # != 0 -> -100, == 0 -> 0
                t.elementwise(mask, boolean=True)
                mask = t.elementwise(mask)
            attn = t.elementwise(costs.new((B, nw, heads, n, n)))
        attn = t.elementwise(costs.reshaped(attn, (B * nw, heads, n, n)), SOFTMAX_FLOPS)
        out = t.matmul(attn, v)
        out = t.reshape(costs.permuted(out, (0, 2, 1, 3)), (B * nw, n, C))
        out = t.linear(out, C, self.proj_bias)
        out = t.reshape(costs.permuted(costs.reshaped(out, (B, pH // wh, pW // ww, wh, ww, C)), (0, 1, 3, 2, 4, 5)), (B, pH, pW, C))
        if sh + sw > 0:
            out = t.made(costs.new(out.shape))   # roll back
        if (pH, pW) != (H, W):
            out = t.made(costs.new((B, H, W, C)))   # the crop, made contiguous
        params = C * 3 * C + self.qkv_bias * 3 * C + C * C + self.proj_bias * C + table * heads
        return t.step(out, params, costs.Untracked(), "ShiftedWindowAttention")


@register("patch_merging")
class PatchMergingOp(Op):
    """Swin patch merging on (H, W, C): each 2x2 neighbourhood concatenated (4C), LayerNorm,
    bias-free Linear to ``out`` channels (default 2C). Odd H or W is zero-padded at the
    bottom/right first, as torchvision's ``PatchMerging`` does: (H, W, C) -> (⌈H/2⌉, ⌈W/2⌉, out).
    Parameters ``norm`` and ``reduction``.
    """

    out: PositiveInt | None = None
    eps: float = Field(1e-5, gt=0)

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[-1])

    def shape(self, x: Shape) -> Shape:
        h, w, c = _map(x, self.kind)
        return ((h + 1) // 2, (w + 1) // 2, self.out or 2 * c)

    def build(self, x: Shape):
        return _module("PatchMerging")(x[-1], self.out or 2 * x[-1], self.eps)

    def cost(self, x: Tensor) -> Step:
        t = Tally()
        B, H, W, C = x.shape
        out = self.out or 2 * C
        t.made(costs.new((B, H + H % 2, W + W % 2, C)))                    # F.pad copies even when it adds nothing
        merged = t.made(costs.new((B, (H + 1) // 2, (W + 1) // 2, 4 * C)))  # the four 2x2 slices, concatenated
        t.made(costs.new(merged.shape))
        t.flops += 7 * merged.numel                                          # norm (analysis/formulas.py)
        reduced = t.linear(merged, out, bias=False)
        effect = costs.Window((2, 2), (2, 2), channels_last=True)
        return t.step(reduced, 4 * C * 2 + 4 * C * out, effect, "PatchMerging")


# -- the modules (torch is imported on first use) ---------------------------------------------
_MODULES = ("ShiftedWindowAttention", "PatchMerging", "relative_position_index", "shifted_window_attention")


# PEP 562: `from archprof.ops.swin import PatchMerging` and pickling work
_module, __getattr__ = deferred_definitions(globals(), _MODULES)


def _define() -> None:
    if "ShiftedWindowAttention" in globals():
        return
    import torch
    import torch.nn.functional as F
    from torch import nn

    def relative_position_index(wh: int, ww: int) -> torch.Tensor:
        """(wh·ww)² indices into the (2wh-1)(2ww-1) table, as torchvision builds them."""
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += wh - 1
        rel[:, :, 1] += ww - 1
        rel[:, :, 0] *= 2 * ww - 1
        return rel.sum(-1).flatten()

    def shifted_window_attention(module: "ShiftedWindowAttention", x: torch.Tensor) -> torch.Tensor:
        (wh, ww), heads = module.window_size, module.num_heads
        B, H, W, C = x.shape
        x = F.pad(x, (0, 0, 0, (ww - W % ww) % ww, 0, (wh - H % wh) % wh))
        _, pH, pW, _ = x.shape
        # no shift along an axis that one window already covers (torchvision's rule)
        sh, sw = (0 if wh >= pH else module.shift_size[0]), (0 if ww >= pW else module.shift_size[1])
        if sh + sw > 0:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        nw, n = (pH // wh) * (pW // ww), wh * ww
        x = x.view(B, pH // wh, wh, pW // ww, ww, C).permute(0, 1, 3, 2, 4, 5).reshape(B * nw, n, C)

        qkv = module.qkv(x).reshape(B * nw, n, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * (C // heads) ** -0.5
        attn = q.matmul(k.transpose(-2, -1))
        bias = module.relative_position_bias_table[module.relative_position_index]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        if sh + sw > 0:
            mask = x.new_zeros((pH, pW))
            count = 0
            for h0, h1 in ((0, -wh), (-wh, -sh), (-sh, None)):
                for w0, w1 in ((0, -ww), (-ww, -sw), (-sw, None)):
                    mask[h0:h1, w0:w1] = count
                    count += 1
            mask = mask.view(pH // wh, wh, pW // ww, ww).permute(0, 2, 1, 3).reshape(nw, n)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, float(-100.0)).masked_fill(mask == 0, float(0.0))
            attn = attn.view(B, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        attn = F.softmax(attn, dim=-1)
        attn = F.dropout(attn, p=module.attention_dropout, training=module.training)

        x = attn.matmul(v).transpose(1, 2).reshape(B * nw, n, C)
        x = F.dropout(module.proj(x), p=module.dropout, training=module.training)
        x = x.view(B, pH // wh, pW // ww, wh, ww, C).permute(0, 1, 3, 2, 4, 5).reshape(B, pH, pW, C)
        if sh + sw > 0:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        return x[:, :H, :W, :].contiguous()

    class ShiftedWindowAttention(nn.Module):
        def __init__(self, dim, window_size, shift_size, num_heads, qkv_bias=True, proj_bias=True,
                     attention_dropout=0.0, dropout=0.0):
            super().__init__()
            self.window_size, self.shift_size, self.num_heads = list(window_size), list(shift_size), num_heads
            self.attention_dropout, self.dropout = attention_dropout, dropout
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
            self.proj = nn.Linear(dim, dim, bias=proj_bias)
            wh, ww = self.window_size
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            self.register_buffer("relative_position_index", relative_position_index(wh, ww))

        def forward(self, x):
            return shifted_window_attention(self, x)

        def extra_repr(self) -> str:
            return f"window_size={self.window_size}, shift_size={self.shift_size}, num_heads={self.num_heads}"

    class PatchMerging(nn.Module):
        def __init__(self, dim, out, eps=1e-5):
            super().__init__()
            self.reduction = nn.Linear(4 * dim, out, bias=False)
            self.norm = nn.LayerNorm(4 * dim, eps=eps)

        def forward(self, x):
            H, W = x.shape[-3:-1]
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
            x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
            return self.reduction(self.norm(x))

    for obj in (ShiftedWindowAttention, PatchMerging, relative_position_index, shifted_window_attention):
        obj.__module__, obj.__qualname__ = __name__, obj.__name__
        globals()[obj.__name__] = obj
