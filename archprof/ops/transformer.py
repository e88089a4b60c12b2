"""Vision-transformer primitives on token sequences (N, D): the parts that blocks cannot express.

Blocks (MLP, the pre-norm transformer block, TNT's two-stream block) are written in the spec
language (``specs/families/vit.yaml``, ``tnt.yaml``); these ops are the pieces that hold their
own parameters or move tokens: a class token, a learned position embedding, multi-head
self-attention, picking one token, TNT's pixel (word) embedding and adding words into sentences
after the class token.

Shape rules act on the last two dims (N tokens, D features); leading dims are extra batch dims,
so TNT's word stream (n, m, c) — n sentences of m words — goes through the same attention, MLP
and norms as a plain (N, D) sequence. The modules are defined on first use (:func:`__getattr__`),
so importing the op registry, and hence validating a spec, never imports torch.
"""
from __future__ import annotations

from typing import Literal

from archprof._lazy import deferred_definitions
from archprof.spec import costs
from archprof.spec.costs import Step, Tally, Tensor, batched
from archprof.spec.registry import NonNegInt, Op, PositiveInt, Shape, ShapeError, register


SOFTMAX_FLOPS = 5   # max, subtract, exp, sum, divide (analysis/formulas.py)


def _tokens(x: Shape, kind: str, exact: bool = False) -> Shape:
    """``x`` as tokens (..., N, D); ``exact``: one sequence (N, D) with no extra leading dims."""
    if len(x) < 2 or (exact and len(x) != 2):
        got = "x".join(map(str, x)) if x else "scalar"
        raise ShapeError(f"{kind} needs tokens (N, D), got {got}")
    return x


@register("class_token")
class ClassTokenOp(Op):
    """Prepends a learned token (parameter ``token``, shape (1, 1, D)): (N, D) -> (N + 1, D)."""

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[-1])  # any token count: the token is one row of width D

    def shape(self, x: Shape) -> Shape:
        _tokens(x, self.kind, exact=True)
        return (x[0] + 1, x[1])

    def build(self, x: Shape):
        return _module("ClassToken")(x[-1])

    def cost(self, x: Tensor) -> Step:
        return Step(costs.new(batched(x, self.shape(x.sample))), params=x.shape[-1], effect=costs.Concat(1, before=1))


@register("pos_embed")
class PositionEmbeddingOp(Op):
    """Adds a learned position embedding (parameter ``pos``, shape (1, N, D)) to (N, D) tokens.

    The embedding has one row per token, so it fixes the token count and hence the input size
    (up to the patch conv's rounding down: a ViT built at 224 takes 224 to 239); another size
    needs a model built for it, e.g. ``image_size: 384``.
    """

    def bound(self, x: Shape) -> tuple:
        return (x[-2], x[-1]) if len(x) >= 2 else x

    def shape(self, x: Shape) -> Shape:
        _tokens(x, self.kind, exact=True)
        return x

    def build(self, x: Shape):
        return _module("PositionEmbedding")(x[-2], x[-1])

    def cost(self, x: Tensor) -> Step:
        return Step(costs.like(x), params=x.shape[-2] * x.shape[-1], flops=x.numel)


@register("attention")
class AttentionOp(Op):
    """Multi-head self-attention over the N tokens of (..., N, D), via ``scaled_dot_product_attention``.

    ``layout`` names the input projections: ``qkv`` is one Linear D -> 3D (timm ViT/DeiT; also
    torchvision's ``nn.MultiheadAttention`` ``in_proj_weight``, loaded by renaming it ``qkv.weight``);
    ``qk_v`` is a Linear D -> 2D for queries and keys plus a Linear ``v`` (timm TNT). The output
    projection is ``proj``. Leading dims before (N, D) are batch: TNT's words attend only within
    their own sentence.
    """

    heads: PositiveInt
    qkv_bias: bool = True
    proj_bias: bool = True
    layout: Literal["qkv", "qk_v"] = "qkv"

    def bound(self, x: Shape) -> tuple:
        return (x[-1],) if x else x  # any token count and any leading dims

    def shape(self, x: Shape) -> Shape:
        d = _tokens(x, self.kind)[-1]
        if d % self.heads:
            raise ShapeError(f"{self.heads} heads must divide the width {d}")
        return x

    def build(self, x: Shape):
        return _module("Attention")(x[-1], self.heads, self.qkv_bias, self.proj_bias, self.layout)

    def cost(self, x: Tensor) -> Step:
        """The module's forward op by op (see ``Attention.forward``)."""
        t = Tally()
        *lead, n, d = x.shape
        h, dh = self.heads, d // self.heads
        x3 = t.reshape(x, (x.numel // (n * d), n, d))   # leading dims join the batch
        b = x3.shape[0]
        if self.layout == "qkv":
            qkv = costs.permuted(costs.reshaped(t.linear(x3, 3 * d, self.qkv_bias), (b, n, 3, h, dh)), (2, 0, 3, 1, 4))
            q = k = v = costs.selected(qkv, 0)   # the three slices share one layout
            # scaled_dot_product_attention's math path: q and kᵀ each scaled by √scale, a safe softmax;
            # on a CPU, half-precision q, k and v are first copied to float32 and the result copied back
            wide = x.half
            if wide:
                q = k = v = t.made(costs.like(q), wide)
                t.made(costs.like(q), wide)
                t.made(costs.like(q), wide)
            q = t.elementwise(q, wide=wide)
            kt = t.elementwise(costs.permuted(k, (0, 1, 3, 2)), wide=wide)
            attn = t.elementwise(t.matmul(q, kt, wide), SOFTMAX_FLOPS, wide=wide)
            if wide:
                t.made(costs.like(attn))   # the attention weights returned beside the output, in the dtype
                out = t.made(costs.like(t.matmul(attn, v, wide)))
                return self._finish(t, out, lead, n, d)
        else:
            qk = costs.permuted(costs.reshaped(t.linear(x3, 2 * d, self.qkv_bias), (b, n, 2, h, dh)), (2, 0, 3, 1, 4))
            q = k = costs.selected(qk, 0)
            v = costs.permuted(costs.reshaped(t.linear(x3, d, self.qkv_bias), (b, n, h, dh)), (0, 2, 1, 3))
            attn = t.matmul(q, costs.permuted(k, (0, 1, 3, 2)))
            attn = t.elementwise(t.elementwise(attn), SOFTMAX_FLOPS)   # scaled, then softmax
        return self._finish(t, t.matmul(attn, v), lead, n, d)

    def _finish(self, t: Tally, out: Tensor, lead: list[int], n: int, d: int) -> Step:
        """Heads concatenated, the output projection."""
        out = t.reshape(costs.permuted(out, (0, 2, 1, 3)), (*lead, n, d))
        out = t.linear(out, d, self.proj_bias)
        params = 3 * d * d + self.qkv_bias * 3 * d + d * d + self.proj_bias * d   # qkv (or qk and v), proj
        return t.step(out, params, costs.Merge(), "Attention")


@register("token_select", stateless=True)
class TokenSelectOp(Op):
    """One token of (N, D) as the image's feature vector, ``x[:, index]``: (N, D) -> (D,)."""

    index: NonNegInt = 0

    def bound(self, x: Shape) -> tuple:
        return (len(x),)

    def shape(self, x: Shape) -> Shape:
        _tokens(x, self.kind, exact=True)
        if self.index >= x[0]:
            raise ShapeError(f"token {self.index} does not exist in {x[0]} tokens")
        return (x[1],)

    def build(self, x: Shape):
        return _module("TokenSelect")(self.index)

    def cost(self, x: Tensor) -> Step:
        return Step(costs.selected(x, 1), effect=costs.Select(1))


@register("add_at", stateless=True)
class AddAtOp(Op):
    """Adds the second input to the tokens of the first from position ``start`` on:
    (N, D) + (N - start, D) -> (N, D). TNT adds the projected words of each sentence to its
    sentence embedding; the class token (``start: 1``) has no words and passes unchanged.
    """

    inputs = 2
    start: NonNegInt = 1

    def bound(self, x: Shape, y: Shape) -> tuple:
        return (len(x), len(y))

    def shape(self, x: Shape, y: Shape) -> Shape:
        _tokens(x, self.kind)
        if y != (x[0] - self.start, *x[1:]):
            raise ShapeError(f"add_at start={self.start} needs ({x[0] - self.start}, {', '.join(map(str, x[1:]))}) to add, got {'x'.join(map(str, y))}")
        return x

    def build(self, x: Shape, y: Shape):
        return _module("AddAt")(self.start)

    def cost(self, x: Tensor, y: Tensor) -> Step:
        # the tokens from `start` on plus y (a temporary), concatenated after the first ones
        return Step(costs.new(x.shape), flops=y.numel, effect=costs.Untracked())


@register("pixel_embed")
class PixelEmbedOp(Op):
    """TNT's word ("pixel") embedding: (C, H, W) -> (n, m, c).

    The image is cut into n = (H // patch)·(W // patch) non-overlapping patches ("visual
    sentences", ``F.unfold``); each patch is convolved on its own (conv ``proj``: ``out`` = c
    channels, ``kernel``/``stride``/``padding``), which gives an s x s grid of m = s² "visual
    words"; the word position embedding ``pos`` (1, c, s, s), shared by all sentences, is added
    (``pos: false`` leaves it out, Table 6 of the TNT paper). Parameters as timm's
    ``PixelEmbed.proj`` plus the model's ``pixel_pos``.
    """

    patch: PositiveInt
    out: PositiveInt
    kernel: PositiveInt = 7
    stride: PositiveInt = 4
    padding: NonNegInt = 3
    pos: bool = True

    def words_side(self) -> int:
        return (self.patch + 2 * self.padding - self.kernel) // self.stride + 1

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[0])  # any H, W of at least one patch: the sentence count follows

    def shape(self, x: Shape) -> Shape:
        if len(x) != 3:
            raise ShapeError(f"pixel_embed needs a (C, H, W) image, got {'x'.join(map(str, x)) if x else 'scalar'}")
        n = (x[1] // self.patch) * (x[2] // self.patch)
        s = self.words_side()
        if n < 1 or s < 1:
            raise ShapeError(f"input {'x'.join(map(str, x))} is too small for {self.patch}x{self.patch} patches of words")
        return (n, s * s, self.out)

    def build(self, x: Shape):
        return _module("PixelEmbed")(x[0], self.patch, self.out, self.kernel, self.stride, self.padding, self.words_side(), self.pos)

    def cost(self, x: Tensor) -> Step:
        """The module's forward op by op (see ``PixelEmbed.forward``)."""
        t = Tally()
        b, c, height, width = x.shape
        p, s = self.patch, self.words_side()
        n = (height // p) * (width // p)
        cols = t.made(costs.new((b, c * p * p, n)))   # F.unfold: copies, no arithmetic
        patches = t.reshape(costs.permuted(cols, (0, 2, 1)), (b * n, c, p, p))
        words = t.made(costs.same_format(patches, (b * n, self.out, s, s)))
        taps = c * self.kernel * self.kernel
        t.macs += words.numel * taps
        t.flops += 2 * words.numel * taps + words.numel
        if self.pos:
            words = t.elementwise(words)
        out = costs.permuted(t.reshape(words, (b, n, self.out, s * s)), (0, 1, 3, 2))
        params = self.out * taps + self.out + self.pos * self.out * s * s
        return t.step(out, params, costs.Untracked(), "PixelEmbed")


# -- the modules (torch is imported on first use) ---------------------------------------------
_MODULES = ("ClassToken", "PositionEmbedding", "Attention", "TokenSelect", "AddAt", "PixelEmbed")


# PEP 562: `from archprof.ops.transformer import Attention` and pickling work
_module, __getattr__ = deferred_definitions(globals(), _MODULES)


def _define() -> None:
    if "Attention" in globals():
        return
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ClassToken(nn.Module):
        def __init__(self, dim: int):
            super().__init__()
            self.token = nn.Parameter(torch.zeros(1, 1, dim))
            nn.init.trunc_normal_(self.token, std=0.02)

        def forward(self, x):
            return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, N + 1, D)

    class PositionEmbedding(nn.Module):
        def __init__(self, tokens: int, dim: int):
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
            nn.init.trunc_normal_(self.pos, std=0.02)

        def forward(self, x):
            return x + self.pos

    class Attention(nn.Module):
        def __init__(self, dim: int, heads: int, qkv_bias: bool, proj_bias: bool, layout: str):
            super().__init__()
            self.heads, self.layout = heads, layout
            if layout == "qkv":
                self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
            else:  # timm TNT keeps v apart from q and k
                self.qk = nn.Linear(dim, 2 * dim, bias=qkv_bias)
                self.v = nn.Linear(dim, dim, bias=qkv_bias)
            self.proj = nn.Linear(dim, dim, bias=proj_bias)

        def forward(self, x):
            *lead, n, d = x.shape
            h = self.heads
            x = x.reshape(-1, n, d)  # (B', N, D): leading dims (TNT's sentences) join the batch
            b = x.shape[0]
            if self.layout == "qkv":
                q, k, v = self.qkv(x).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)  # 3 x (B', h, N, D/h)
                x = F.scaled_dot_product_attention(q, k, v)  # (B', h, N, D/h)
            else:
                q, k = self.qk(x).reshape(b, n, 2, h, d // h).permute(2, 0, 3, 1, 4)  # 2 x (B', h, N, D/h)
                v = self.v(x).reshape(b, n, h, d // h).transpose(1, 2)  # (B', h, N, D/h)
                # TNT's own attention, as timm writes it: the scores are scaled, not q and k
                # (the same values as scaled_dot_product_attention, and the same memory as timm)
                attn = ((q @ k.transpose(-2, -1)) * (d // h) ** -0.5).softmax(dim=-1)  # (B', h, N, N)
                x = attn @ v  # (B', h, N, D/h)
            x = x.transpose(1, 2).reshape(*lead, n, d)  # heads concatenated: (..., N, D)
            return self.proj(x)

        def extra_repr(self) -> str:
            return f"heads={self.heads}, layout={self.layout}"

    class TokenSelect(nn.Module):
        def __init__(self, index: int):
            super().__init__()
            self.index = index

        def forward(self, x):
            return x[:, self.index]  # (B, N, D) -> (B, D)

        def extra_repr(self) -> str:
            return f"index={self.index}"

    class AddAt(nn.Module):
        def __init__(self, start: int):
            super().__init__()
            self.start = start

        def forward(self, x, y):
            # cat rather than a padded add: tokens before `start` are passed through, not added to
            return torch.cat([x[:, : self.start], x[:, self.start :] + y], dim=1)

        def extra_repr(self) -> str:
            return f"start={self.start}"

    class PixelEmbed(nn.Module):
        def __init__(self, channels: int, patch: int, dim: int, kernel: int, stride: int, padding: int, side: int, pos: bool):
            super().__init__()
            self.patch = patch
            self.proj = nn.Conv2d(channels, dim, kernel, stride, padding)
            self.pos = nn.Parameter(torch.zeros(1, dim, side, side)) if pos else None
            if pos:
                nn.init.trunc_normal_(self.pos, std=0.02)

        def forward(self, x):
            b, c = x.shape[:2]
            p = self.patch
            x = F.unfold(x, p, stride=p)  # (B, C·p·p, n)
            n = x.shape[-1]
            x = x.transpose(1, 2).reshape(b * n, c, p, p)  # each sentence is an image of its own
            x = self.proj(x)  # (B·n, c, s, s)
            if self.pos is not None:
                x = x + self.pos
            return x.reshape(b, n, x.shape[1], -1).transpose(2, 3)  # (B, n, m = s·s, c)

        def extra_repr(self) -> str:
            return f"patch={self.patch}"

    for cls in (ClassToken, PositionEmbedding, Attention, TokenSelect, AddAt, PixelEmbed):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
        globals()[cls.__name__] = cls

