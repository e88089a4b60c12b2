"""Tensor ops: splitting, reshaping, reordering, slicing and resizing, without parameters.

Dimensions are counted without the batch (0 = channels of a (C, H, W) map); negative dims count
from the end. ``chunk`` and ``split`` return several tensors, named by the layer's ``outputs:``.
A channel shuffle (ShuffleNet) is a spec block of these: ``unflatten`` the channels into
(groups, C/groups), ``transpose`` those two, ``flatten`` them back.
"""
from __future__ import annotations

import math
from typing import Literal, Union

from pydantic import Field, model_validator

from archprof._lazy import modules, nn
from archprof.spec import costs
from archprof.spec.costs import Step, Tensor, batched
from archprof.spec.registry import Op, PositiveInt, Shape, ShapeError, Size2, pair, register


def _dim(dim: int, x: Shape, kind: str) -> int:
    if not -len(x) <= dim < len(x):
        raise ShapeError(f"{kind}: dim {dim} is out of range for a {len(x)}-d input")
    return dim % len(x)


class _Shapeless(Op):
    """Ops that work at any size of the input (only its number of dims is fixed)."""

    def bound(self, *x: Shape) -> tuple:
        return tuple(len(s) for s in x)


@register("chunk", stateless=True)
class Chunk(_Shapeless):
    """``chunks`` equal pieces along ``dim`` (``torch.chunk``; the last may be smaller), as several outputs."""

    chunks: PositiveInt
    dim: int = 0

    def _sizes(self, x: Shape) -> list[int]:
        d = _dim(self.dim, x, "chunk")
        step = math.ceil(x[d] / self.chunks)
        sizes = [min(step, x[d] - i) for i in range(0, x[d], step)]
        if len(sizes) != self.chunks:
            raise ShapeError(f"chunk: {x[d]} along dim {self.dim} gives {len(sizes)} chunks, not {self.chunks}")
        return sizes

    def shape(self, x: Shape) -> tuple[Shape, ...]:
        d = _dim(self.dim, x, "chunk")
        return tuple((*x[:d], n, *x[d + 1:]) for n in self._sizes(x))

    def build(self, x: Shape):
        return modules.Chunk(self.chunks, _dim(self.dim, x, "chunk"))

    def cost(self, x: Tensor) -> Step:
        return _pieces(x, _dim(self.dim, x.sample, "chunk") + 1, self._sizes(x.sample))


def _pieces(x: Tensor, dim: int, sizes: list[int]) -> Step:
    """Views of consecutive pieces along ``dim``: nothing is allocated."""
    return Step(tuple(costs.narrowed(x, dim, n) for n in sizes), effect=costs.Pieces(dim, tuple(sizes)))


@register("split", stateless=True)
class Split(Op):
    """Pieces of the given ``sizes`` along ``dim`` (``torch.split``), as several outputs; they must add up."""

    sizes: list[PositiveInt] = Field(min_length=1)
    dim: int = 0

    def bound(self, x: Shape) -> tuple:
        d = _dim(self.dim, x, "split")
        return (len(x), x[d])

    def shape(self, x: Shape) -> tuple[Shape, ...]:
        d = _dim(self.dim, x, "split")
        if sum(self.sizes) != x[d]:
            raise ShapeError(f"split: sizes {self.sizes} add up to {sum(self.sizes)}, but dim {self.dim} has {x[d]}")
        return tuple((*x[:d], n, *x[d + 1:]) for n in self.sizes)

    def build(self, x: Shape):
        return modules.Split(tuple(self.sizes), _dim(self.dim, x, "split"))

    def cost(self, x: Tensor) -> Step:
        return _pieces(x, _dim(self.dim, x.sample, "split") + 1, list(self.sizes))


def _infer(sizes: list[int], total: int, kind: str) -> tuple[int, ...]:
    """``sizes`` with at most one -1 filled in so that their product is ``total``."""
    if sizes.count(-1) > 1 or any(s < 1 and s != -1 for s in sizes):
        raise ShapeError(f"{kind}: sizes {sizes} may hold positive numbers and at most one -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if known == 0 or total % known:
            raise ShapeError(f"{kind}: {total} elements cannot be split into {sizes}")
        return tuple(total // known if s == -1 else s for s in sizes)
    if known != total:
        raise ShapeError(f"{kind}: sizes {sizes} hold {known} elements, the input {total}")
    return tuple(sizes)


@register("reshape", stateless=True)
class Reshape(Op):
    """The input as ``shape`` (without the batch; one entry may be -1)."""

    shape_: list[int] = Field(alias="shape", min_length=1)

    def shape(self, x: Shape) -> Shape:
        return _infer(self.shape_, math.prod(x), "reshape")

    def build(self, x: Shape):
        return modules.Reshape(self.shape(x))

    def cost(self, x: Tensor) -> Step:
        return Step(costs.reshaped(x, batched(x, self.shape(x.sample))), effect=costs.Reshape())


@register("unflatten", stateless=True)
class Unflatten(_Shapeless):
    """Dim ``dim`` split into ``sizes`` (one may be -1), e.g. channels into (groups, C/groups)."""

    dim: int = 0
    sizes: list[int] = Field(min_length=1)

    def shape(self, x: Shape) -> Shape:
        d = _dim(self.dim, x, "unflatten")
        return (*x[:d], *_infer(self.sizes, x[d], "unflatten"), *x[d + 1:])

    def build(self, x: Shape):
        return nn.Unflatten(_dim(self.dim, x, "unflatten") + 1, tuple(self.sizes))

    def cost(self, x: Tensor) -> Step:
        return Step(costs.reshaped(x, batched(x, self.shape(x.sample))), effect=costs.Reshape())


@register("transpose", stateless=True)
class Transpose(_Shapeless):
    """Two dims swapped, e.g. ``dims: [0, 1]``."""

    dims: tuple[int, int]

    def shape(self, x: Shape) -> Shape:
        a, b = (_dim(d, x, "transpose") for d in self.dims)
        out = list(x)
        out[a], out[b] = x[b], x[a]
        return tuple(out)

    def build(self, x: Shape):
        a, b = (_dim(d, x, "transpose") for d in self.dims)
        return modules.Transpose(a + 1, b + 1)

    def cost(self, x: Tensor) -> Step:
        a, b = (_dim(d, x.sample, "transpose") + 1 for d in self.dims)
        order = list(range(len(x.shape)))
        order[a], order[b] = b, a
        return Step(costs.permuted(x, tuple(order)), effect=costs.Permute(tuple(order)))


@register("slice", stateless=True)
class Slice(_Shapeless):
    """``x[start:end:step]`` along ``dim``, as in Python (negative start and end count from the end)."""

    dim: int = 0
    start: int | None = None
    end: int | None = None
    step: PositiveInt = 1

    def shape(self, x: Shape) -> Shape:
        d = _dim(self.dim, x, "slice")
        n = len(range(x[d])[self.start:self.end:self.step])
        if n < 1:
            raise ShapeError(f"slice: [{self.start}:{self.end}:{self.step}] of {x[d]} along dim {self.dim} is empty")
        return (*x[:d], n, *x[d + 1:])

    def build(self, x: Shape):
        return modules.Slice(_dim(self.dim, x, "slice") + 1, self.start, self.end, self.step)

    def cost(self, x: Tensor) -> Step:
        d = _dim(self.dim, x.sample, "slice") + 1
        picked = range(x.shape[d])[self.start:self.end:self.step]
        return Step(costs.narrowed(x, d, len(picked), self.step), effect=costs.Pieces(d, (len(picked),), picked.start, self.step))


@register("upsample", stateless=True)
class Upsample(_Shapeless):
    """Resizing of a (C, H, W) map by ``scale`` or to ``size`` (``nn.Upsample``)."""

    scale: Union[PositiveInt, float, None] = None
    size: Size2 | None = None
    mode: Literal["nearest", "nearest-exact", "bilinear", "bicubic"] = "nearest"
    align_corners: bool | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if (self.scale is None) == (self.size is None):
            raise ValueError("give exactly one of scale and size")
        if self.scale is not None and not 0 < float(self.scale) <= 64:
            raise ValueError("scale must be in (0, 64]")
        if self.align_corners is not None and self.mode not in ("bilinear", "bicubic"):
            raise ValueError("align_corners applies to bilinear and bicubic only")
        return self

    def shape(self, x: Shape) -> Shape:
        if len(x) != 3:
            raise ShapeError(f"upsample needs a (C, H, W) input, got {len(x)} dims")
        c, h, w = x
        if self.size is not None:
            return (c, *pair(self.size))
        out = (math.floor(h * self.scale), math.floor(w * self.scale))
        if min(out) < 1:
            raise ShapeError(f"upsample: {h}x{w} scaled by {self.scale} is empty")
        return (c, *out)

    def build(self, x: Shape):
        size = pair(self.size) if self.size is not None else None
        return nn.Upsample(size=size, scale_factor=None if size else float(self.scale), mode=self.mode, align_corners=self.align_corners)

    def cost(self, x: Tensor) -> Step:
        out = costs.same_format(x, batched(x, self.shape(x.sample)))
        per_output = {"bilinear": 7, "bicubic": 31}.get(self.mode, 0)   # taps multiplied and added; nearest copies
        mode = {"bilinear": "linear", "bicubic": "cubic"}.get(self.mode, self.mode)
        return Step(out, flops=per_output * out.numel, effect=costs.Resample(mode, bool(self.align_corners)))
