"""Convolution, pooling and normalisation over channels-first images (C, H, W)."""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from archprof._lazy import modules, nn
from archprof.spec import costs
from archprof.spec.costs import Step, Tensor, batched
from archprof.spec.registry import NonNegInt, Op, Pad2, PositiveInt, Shape, ShapeError, Size2, pair, register


def _image(x: Shape, kind: str) -> Shape:
    if len(x) != 3:
        raise ShapeError(f"{kind} needs a (C, H, W) input, got {_fmt(x)}")
    return x


def _fmt(shape: Shape) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def window_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a sliding window along one axis, exactly as PyTorch computes it."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


class _Window(Op):
    kernel: Size2
    stride: Size2 | None = None
    padding: Pad2 = 0
    dilation: Size2 = 1

    def bound(self, *x: Shape) -> tuple:
        return (len(x[0]),)

    def _ceil(self) -> bool:
        """Whether the output length rounds up (pooling's ``ceil_mode``); convolutions always floor."""
        return False

    def _spatial(self, x: Shape) -> tuple[int, int]:
        c, h, w = _image(x, self.kind)
        k, s, p, d = pair(self.kernel), pair(self.stride or self.kernel), pair(self.padding), pair(self.dilation)
        if any(pi > ki // 2 for pi, ki in zip(p, k)) and self.kind.endswith("pool"):
            raise ShapeError(f"padding {self.padding} is more than half the kernel {self.kernel}")
        out = tuple(window_out(n, *a, ceil_mode=self._ceil()) for n, *a in zip((h, w), k, s, p, d))
        if min(out) < 1:
            raise ShapeError(f"input {_fmt(x)} is too small for a {self.kind} with kernel {self.kernel} (output would be empty)")
        return out

    def _window(self) -> costs.Window:
        return costs.Window(pair(self.kernel), pair(self.stride or self.kernel), pair(self.padding), pair(self.dilation))

    def _out(self, x: Tensor) -> Tensor:
        return costs.same_format(x, batched(x, self.shape(x.sample)))


@register("conv")
class Conv(_Window):
    """2-D convolution (``nn.Conv2d``); ``groups`` = input channels makes it depthwise."""

    module = "Conv2d"

    out: PositiveInt
    stride: Size2 = 1
    padding: Pad2 | Literal["same"] = 0
    groups: PositiveInt = 1
    bias: bool = True

    def shape(self, x: Shape) -> Shape:
        c = _image(x, "conv")[0]
        if c % self.groups or self.out % self.groups:
            raise ShapeError(f"groups={self.groups} must divide input channels {c} and output channels {self.out}")
        if self.padding == "same":
            if self.stride not in (1, (1, 1)):
                raise ShapeError("padding 'same' needs stride 1")
            return (self.out, x[1], x[2])
        return (self.out, *self._spatial(x))

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[0])

    def build(self, x: Shape):
        return nn.Conv2d(x[0], self.out, self.kernel, self.stride, self.padding, self.dilation, self.groups, self.bias)

    def cost(self, x: Tensor) -> Step:
        out = self._out(x)
        kh, kw = pair(self.kernel)
        taps = x.shape[1] // self.groups * kh * kw
        macs = out.numel * taps
        if self.padding == "same":   # PyTorch pads (k - 1)·d in total, the smaller half first
            dilation = pair(self.dilation)
            effect = costs.Window((kh, kw), (1, 1), tuple(d * (k - 1) // 2 for k, d in zip((kh, kw), dilation)), dilation)
        else:
            effect = self._window()
        return Step(out, params=self.out * taps + self.bias * self.out, macs=macs, flops=2 * macs + self.bias * out.numel, effect=effect)


class _Pool(_Window):
    ceil_mode: bool = False

    def _ceil(self) -> bool:
        return self.ceil_mode


@register("maxpool", stateless=True)
class MaxPool(_Pool):
    """Max pooling (``nn.MaxPool2d``); ``stride`` defaults to the kernel size."""

    module = "MaxPool2d"

    def shape(self, x: Shape) -> Shape:
        return (x[0], *self._spatial(x))

    def build(self, x: Shape):
        return nn.MaxPool2d(self.kernel, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode)

    def cost(self, x: Tensor) -> Step:
        out = self._out(x)
        return Step(out, flops=(math.prod(pair(self.kernel)) - 1) * out.numel, effect=self._window())


@register("avgpool", stateless=True)
class AvgPool(_Pool):
    """Average pooling (``nn.AvgPool2d``)."""

    module = "AvgPool2d"

    count_include_pad: bool = True

    def shape(self, x: Shape) -> Shape:
        if self.dilation != 1:
            raise ShapeError("avgpool has no dilation")
        return (x[0], *self._spatial(x))

    def build(self, x: Shape):
        return nn.AvgPool2d(self.kernel, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def cost(self, x: Tensor) -> Step:
        out = self._out(x)
        return Step(out, flops=math.prod(pair(self.kernel)) * out.numel, effect=self._window())


@register("adaptive_avgpool", stateless=True)
class AdaptiveAvgPool(Op):
    """Average pooling to a fixed output size (``nn.AdaptiveAvgPool2d``); size 1 is global pooling."""

    module = "AdaptiveAvgPool2d"

    size: Size2 = 1

    def bound(self, x: Shape) -> tuple:
        return (len(x),)

    def shape(self, x: Shape) -> Shape:
        return (_image(x, self.kind)[0], *pair(self.size))

    def build(self, x: Shape):
        return nn.AdaptiveAvgPool2d(self.size)

    def cost(self, x: Tensor) -> Step:
        return Step(costs.same_format(x, batched(x, self.shape(x.sample))), flops=x.numel, effect=costs.Adaptive())


@register("adaptive_maxpool", stateless=True)
class AdaptiveMaxPool(AdaptiveAvgPool):
    """Max pooling to a fixed output size (``nn.AdaptiveMaxPool2d``)."""

    module = "AdaptiveMaxPool2d"

    def build(self, x: Shape):
        return nn.AdaptiveMaxPool2d(self.size)


@register("bn")
class BatchNorm(Op):
    """Batch normalisation over channels (``nn.BatchNorm2d``, or 1d for flat features)."""

    eps: float = Field(1e-5, gt=0)
    momentum: float | None = 0.1

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[0])

    def shape(self, x: Shape) -> Shape:
        if len(x) not in (1, 3):
            raise ShapeError(f"bn needs (C,) or (C, H, W) input, got {_fmt(x)}")
        return x

    def build(self, x: Shape):
        cls = nn.BatchNorm2d if len(x) == 3 else nn.BatchNorm1d
        return cls(x[0], eps=self.eps, momentum=self.momentum)

    def cost(self, x: Tensor) -> Step:
        # inference: a folded per-channel scale and shift, two FLOPs per element
        return Step(costs.same_format(x, x.shape) if len(x.shape) == 4 else costs.new(x.shape), params=2 * x.shape[1],
                    flops=2 * x.numel, type="BatchNorm2d" if len(x.shape) == 4 else "BatchNorm1d")


@register("ln2d")
class LayerNorm2d(Op):
    """Layer norm over the channels of a (C, H, W) map, as in ConvNeXt (params ``weight``, ``bias``)."""

    eps: float = Field(1e-6, gt=0)

    def bound(self, x: Shape) -> tuple:
        return (len(x), x[0])

    def shape(self, x: Shape) -> Shape:
        return _image(x, self.kind)

    def build(self, x: Shape):
        return modules.LayerNorm2d(x[0], eps=self.eps)

    def cost(self, x: Tensor) -> Step:
        # permuted to channels-last, normalised over the channels (a new contiguous tensor), permuted back
        n, c, h, w = x.shape
        return Step(costs.Tensor(x.shape, (h * w * c, 1, w * c, c)), params=2 * c, flops=7 * x.numel)


@register("lrn", stateless=True)
class LocalResponseNorm(Op):
    """Local response normalisation across channels (AlexNet 2012, VGG A-LRN)."""

    size: PositiveInt
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def bound(self, x: Shape) -> tuple:
        return (len(x),)

    def shape(self, x: Shape) -> Shape:
        return _image(x, self.kind)

    def build(self, x: Shape):
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)

    def cost(self, x: Tensor) -> Step:
        # F.local_response_norm: x², an average over `size` channels, then ·alpha, +k, ^beta and x / that
        return Step(costs.like(x), flops=(self.size + 5) * x.numel)


@register("pad", stateless=True)
class Pad(Op):
    """Padding of a (C, H, W) map: ``[left, right, top, bottom]``, with zeros (or ``value``), or by
    reflecting or replicating the border (``nn.ZeroPad2d``/``ConstantPad2d``/``ReflectionPad2d``/``ReplicationPad2d``)."""

    padding: tuple[NonNegInt, NonNegInt, NonNegInt, NonNegInt]
    mode: Literal["constant", "reflect", "replicate"] = "constant"
    value: float = 0.0

    def bound(self, x: Shape) -> tuple:
        return (len(x),)

    def shape(self, x: Shape) -> Shape:
        l, r, t, b = self.padding
        c, h, w = _image(x, self.kind)
        if self.mode == "reflect" and (max(l, r) >= w or max(t, b) >= h):
            raise ShapeError(f"reflect padding {list(self.padding)} must be smaller than the map {h}x{w}")
        return (c, h + t + b, w + l + r)

    def build(self, x: Shape):
        if self.mode == "reflect":
            return nn.ReflectionPad2d(self.padding)
        if self.mode == "replicate":
            return nn.ReplicationPad2d(self.padding)
        return nn.ZeroPad2d(self.padding) if self.value == 0 else nn.ConstantPad2d(self.padding, self.value)

    def cost(self, x: Tensor) -> Step:
        l, r, t, b = self.padding
        kind = {"reflect": "ReflectionPad2d", "replicate": "ReplicationPad2d"}.get(self.mode)
        return Step(costs.new(batched(x, self.shape(x.sample))), effect=costs.Shift(t, l),
                    type=kind or ("ZeroPad2d" if self.value == 0 else "ConstantPad2d"))
