"""The few nn.Modules that torch lacks as modules, and the two containers the compiler emits."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class Seq(nn.Sequential):
    """``nn.Sequential`` that also threads tuples (two-stream blocks) from one child to the next."""

    def forward(self, *x):
        out = x if len(x) > 1 else x[0]
        del x   # as nn.Sequential rebinds its input: the first inputs are not kept through the whole sequence
        for module in self:
            out = module(*out) if isinstance(out, tuple) else module(out)
        return out


class Graph(nn.Module):
    """Children run in order, each reading named earlier values: a DAG without Python in the spec.

    ``steps`` holds ``(child, inputs, outputs)``: the child reads the named ``inputs`` and its
    result is stored under the child's name, and also unpacked into ``outputs`` when it returns
    several tensors. Each value is dropped after its last reader, so a block holds no more
    activation memory than the same block written by hand.
    """

    def __init__(self, children: "OrderedDict[str, nn.Module]", steps, input_names, output):
        super().__init__()
        for name, module in children.items():
            self.add_module(name, module)
        self.steps = [(name, tuple(ins), tuple(outs)) for name, ins, outs in steps]
        self.input_names = tuple(input_names)
        self.output = output
        self.release = _last_uses(self.steps, self.input_names, output)

    def forward(self, *xs):
        env = dict(zip(self.input_names, xs))
        del xs
        for (name, ins, outs), done in zip(self.steps, self.release):
            env[name] = result = self._modules[name](*(env[i] for i in ins))
            env.update(zip(outs, result))
            del result
            for value in done:
                del env[value]
        if isinstance(self.output, tuple):
            return tuple(env[o] for o in self.output)
        return env[self.output]

    def extra_repr(self) -> str:
        return "inputs=" + ",".join(self.input_names)


def _last_uses(steps, input_names, output) -> list[tuple[str, ...]]:
    """For each step, the values nothing reads after it (the graph's outputs excepted)."""
    kept = set(output) if isinstance(output, tuple) else {output}
    last: dict[str, int] = {}
    for index, (name, ins, outs) in enumerate(steps):
        for value in ins:
            last[value] = index
        for value in (name, *outs):
            last.setdefault(value, index)
    release: list[list[str]] = [[] for _ in steps]
    for value, index in last.items():
        if value not in kept:
            release[index].append(value)
    return [tuple(r) for r in release]


class Add(nn.Module):
    """The sum of the inputs; ``inplace`` adds into the first one (``out += identity``), as torchvision's
    residual blocks do, so the sum allocates nothing."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out.add_(x) if self.inplace else out + x
        return out

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Mul(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = (0, *(d + 1 for d in dims))

    def forward(self, x):
        return x.permute(self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Chunk(nn.Module):
    def __init__(self, chunks: int, dim: int):
        super().__init__()
        self.chunks, self.dim = chunks, dim

    def forward(self, x):
        return x.chunk(self.chunks, self.dim + 1)

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, dim={self.dim}"


class Split(nn.Module):
    def __init__(self, sizes: tuple[int, ...], dim: int):
        super().__init__()
        self.sizes, self.dim = sizes, dim

    def forward(self, x):
        return x.split(list(self.sizes), self.dim + 1)

    def extra_repr(self) -> str:
        return f"sizes={list(self.sizes)}, dim={self.dim}"


class Reshape(nn.Module):
    """The input as (batch, *shape)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Transpose(nn.Module):
    def __init__(self, a: int, b: int):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return x.transpose(self.a, self.b)

    def extra_repr(self) -> str:
        return f"dims=({self.a}, {self.b})"


class Slice(nn.Module):
    def __init__(self, dim: int, start: int | None, end: int | None, step: int):
        super().__init__()
        self.dim, self.index = dim, slice(start, end, step)

    def forward(self, x):
        return x[(slice(None),) * self.dim + (self.index,)]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, {self.index.start}:{self.index.stop}:{self.index.step}"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor (same parameters as torchvision's and timm's)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float, channels_first: bool):
        super().__init__()
        self.channels_first, self.init = channels_first, init
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x):
        return x * (self.gamma.view(-1, 1, 1) if self.channels_first else self.gamma)


class StochasticDepth(nn.Module):
    """torchvision's ``StochasticDepth``, imported only when it drops something.

    Importing ``torchvision.ops`` imports ``torch._dynamo`` (over a second), which an analysis
    (eval mode, meta device) never needs: there the module is the identity.
    """

    def __init__(self, p: float, mode: str):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        from torchvision.ops import stochastic_depth

        return stochastic_depth(x, self.p, self.mode, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"
