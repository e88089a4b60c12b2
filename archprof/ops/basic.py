"""Shape-agnostic ops: linear layers, activations, reshaping, regularisers and merges."""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from archprof._lazy import modules, nn
from archprof.spec import costs
from archprof.spec.costs import Step, Tensor, batched
from archprof.spec.registry import Op, PositiveInt, Probability, Shape, ShapeError, register


class _AnySize(Op):
    """An op that takes any input and returns the same shape."""

    def bound(self, *x: Shape) -> tuple:
        return ()

    def shape(self, x: Shape) -> Shape:
        return x

    def cost(self, x: Tensor) -> Step:
        return Step(costs.passed(x))


@register("linear")
class Linear(Op):
    """Fully connected layer on the last dimension (``nn.Linear``)."""

    out: PositiveInt
    bias: bool = True

    def bound(self, x: Shape) -> tuple:
        return (x[-1],)

    def shape(self, x: Shape) -> Shape:
        if not x:
            raise ShapeError("linear needs at least one feature dimension")
        return (*x[:-1], self.out)

    def build(self, x: Shape):
        return nn.Linear(x[-1], self.out, self.bias)

    def cost(self, x: Tensor) -> Step:
        rows = x.numel // x.shape[-1]
        macs = rows * x.shape[-1] * self.out
        return Step(costs.new((*x.shape[:-1], self.out)), params=x.shape[-1] * self.out + self.bias * self.out, macs=macs,
                    flops=2 * macs + self.bias * rows * self.out, effect=costs.Last(mixes=True))


@register("ln")
class LayerNorm(Op):
    """Layer normalisation over the last dimension (``nn.LayerNorm``): tokens, or channels-last maps."""

    eps: float = Field(1e-5, gt=0)

    def bound(self, x: Shape) -> tuple:
        return (x[-1],)

    def shape(self, x: Shape) -> Shape:
        if not x:
            raise ShapeError("ln needs at least one dimension")
        return x

    def build(self, x: Shape):
        return nn.LayerNorm(x[-1], eps=self.eps)

    def cost(self, x: Tensor) -> Step:
        return Step(costs.new(x.shape), params=2 * x.shape[-1], flops=NORM_FLOPS * x.numel, effect=costs.Last(mixes=False))


#: FLOPs per element of a layer norm and of the element-wise activations (analysis/formulas.py's table)
NORM_FLOPS = 7
ACTIVATION_FLOPS = {"ReLU": 1, "ReLU6": 1, "GELU": 8, "SiLU": 5, "Tanh": 5, "Sigmoid": 4, "Hardswish": 4, "Hardsigmoid": 3,
                    "Identity": 0}


def _activation(kind: str, factory: str, doc: str, inplace: bool) -> None:
    """Register an activation; those that torch can apply in place take ``inplace`` (default false)."""
    if inplace:
        def build(self, x: Shape):
            return getattr(nn, factory)(inplace=self.inplace)

        namespace = {"__annotations__": {"inplace": bool}, "inplace": False}
        doc += " ``inplace: true`` overwrites its input, as torchvision's ReLU(inplace=True) does."
    else:
        def build(self, x: Shape):
            return getattr(nn, factory)()

        namespace = {}
    per_element = ACTIVATION_FLOPS[factory]

    def cost(self, x: Tensor) -> Step:
        in_place = getattr(self, "inplace", False) or factory == "Identity"
        return Step(costs.passed(x) if in_place else costs.like(x), flops=per_element * x.numel)

    cls = type(factory, (_AnySize,), {"__doc__": doc, "build": build, "cost": cost, "__module__": __name__, **namespace})
    register(kind, stateless=True)(cls)


for _kind, _factory, _doc, _inplace in [
    ("relu", "ReLU", "max(0, x).", True),
    ("relu6", "ReLU6", "min(max(0, x), 6), as in MobileNetV2.", True),
    ("gelu", "GELU", "Gaussian error linear unit (exact erf form).", False),
    ("silu", "SiLU", "x·sigmoid(x), a.k.a. swish (EfficientNet).", True),
    ("tanh", "Tanh", "Hyperbolic tangent (LeNet-5).", False),
    ("sigmoid", "Sigmoid", "Logistic sigmoid (SE gates).", False),
    ("hardswish", "Hardswish", "Piecewise-linear swish (MobileNetV3).", True),
    ("hardsigmoid", "Hardsigmoid", "Piecewise-linear sigmoid (MobileNetV3 SE gates).", True),
    ("identity", "Identity", "Returns its input unchanged.", False),
]:
    _activation(_kind, _factory, _doc, _inplace)


@register("flatten", stateless=True)
class Flatten(_AnySize):
    """Flattens dimensions ``start``…``end`` (counted without the batch dimension)."""

    start: int = Field(0, ge=0)
    end: int = -1

    def shape(self, x: Shape) -> Shape:
        end = self.end if self.end >= 0 else len(x) + self.end
        if not self.start <= end < len(x):
            raise ShapeError(f"cannot flatten dims {self.start}..{self.end} of a {len(x)}-d input")
        return (*x[: self.start], math.prod(x[self.start : end + 1]), *x[end + 1 :])

    def build(self, x: Shape):
        end = self.end if self.end < 0 else self.end + 1
        return nn.Flatten(self.start + 1, end)

    def cost(self, x: Tensor) -> Step:
        return Step(costs.reshaped(x, batched(x, self.shape(x.sample))), effect=costs.Reshape())


@register("permute", stateless=True)
class Permute(_AnySize):
    """Reorders the non-batch dimensions, e.g. ``dims: [1, 2, 0]`` turns (C, H, W) into (H, W, C)."""

    dims: tuple[int, ...]

    def shape(self, x: Shape) -> Shape:
        if sorted(self.dims) != list(range(len(x))):
            raise ShapeError(f"dims {list(self.dims)} are not a permutation of a {len(x)}-d input")
        return tuple(x[d] for d in self.dims)

    def build(self, x: Shape):
        return modules.Permute(self.dims)

    def cost(self, x: Tensor) -> Step:
        order = (0, *(d + 1 for d in self.dims))
        return Step(costs.permuted(x, order), effect=costs.Permute(order))


@register("dropout", stateless=True)
class Dropout(_AnySize):
    """Element-wise dropout (``nn.Dropout``); identity at inference."""

    p: Probability = 0.5

    def shape(self, x: Shape) -> Shape:
        return x

    def build(self, x: Shape):
        return nn.Dropout(self.p)


@register("drop_path", stateless=True)
class DropPath(_AnySize):
    """Stochastic depth: drops the whole residual branch per sample (``row``) or per batch."""

    module = "StochasticDepth"

    p: Probability = 0.0
    mode: Literal["row", "batch"] = "row"

    def shape(self, x: Shape) -> Shape:
        return x

    def build(self, x: Shape):
        from archprof.spec.modules import StochasticDepth  # torchvision's, imported when training

        return StochasticDepth(self.p, self.mode)


@register("layer_scale")
class LayerScale(Op):
    """Learned per-channel scale (CaiT/ConvNeXt), parameter ``gamma`` of shape (C,).

    ``channels_first`` scales dim 0 of (C, H, W) maps; otherwise the last dimension.
    """

    init: float = 1e-6
    channels_first: bool = False

    def bound(self, x: Shape) -> tuple:
        return (x[0] if self.channels_first else x[-1],)

    def shape(self, x: Shape) -> Shape:
        return x

    def build(self, x: Shape):
        return modules.LayerScale(x[0] if self.channels_first else x[-1], self.init, self.channels_first)

    def cost(self, x: Tensor) -> Step:
        return Step(costs.like(x), params=x.shape[1] if self.channels_first else x.shape[-1], flops=x.numel)


def _same_shapes(kind: str, xs: tuple[Shape, ...]) -> Shape:
    if any(x != xs[0] for x in xs):
        raise ShapeError(f"{kind} needs equal shapes, got {', '.join('x'.join(map(str, x)) for x in xs)}")
    return xs[0]


@register("add", stateless=True)
class Add(_AnySize):
    """Element-wise sum of its inputs (residual connections); ``inplace: true`` adds into the first
    input (``out += identity``, as torchvision's residual blocks)."""

    inputs = None
    inplace: bool = False

    def shape(self, *xs: Shape) -> Shape:
        return _same_shapes(self.kind, xs)

    def build(self, *xs: Shape):
        return modules.Add(self.inplace)

    def cost(self, *xs: Tensor) -> Step:
        out = costs.passed(xs[0]) if self.inplace else costs.like(xs[0])
        return Step(out, flops=(len(xs) - 1) * xs[0].numel)


@register("mul", stateless=True)
class Mul(_AnySize):
    """Element-wise product; a (C, 1, 1) gate broadcasts over a (C, H, W) map (SE blocks)."""

    inputs = None

    def shape(self, *xs: Shape) -> Shape:
        out = max(xs, key=len)
        for x in xs:
            if len(x) != len(out) or any(a not in (1, b) for a, b in zip(x, out)):
                raise ShapeError(f"mul cannot broadcast {x} to {out}")
        return out

    def build(self, *xs: Shape):
        return modules.Mul()

    def cost(self, *xs: Tensor) -> Step:
        out = max(xs, key=lambda t: t.numel)
        if len(xs) == 1:
            return Step(costs.passed(out))
        return Step(costs.like(out), flops=(len(xs) - 1) * out.numel)


@register("concat", stateless=True)
class Concat(_AnySize):
    """Concatenation along ``dim`` (0 = channels of a (C, H, W) map; Inception branches)."""

    inputs = None
    dim: int = Field(0, ge=0)

    def shape(self, *xs: Shape) -> Shape:
        d = self.dim
        if any(len(x) != len(xs[0]) or x[:d] + x[d + 1 :] != xs[0][:d] + xs[0][d + 1 :] for x in xs):
            raise ShapeError(f"concat along dim {d} needs matching other dims, got {', '.join(map(str, xs))}")
        return (*xs[0][:d], sum(x[d] for x in xs), *xs[0][d + 1 :])

    def build(self, *xs: Shape):
        return modules.Concat(self.dim + 1)

    def cost(self, *xs: Tensor) -> Step:
        return Step(costs.new(batched(xs[0], self.shape(*(x.sample for x in xs)))), effect=costs.Concat(self.dim + 1))
