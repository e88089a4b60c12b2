"""What an op costs, in pure Python: the counterpart of its shape rule for the analysis without torch.

An op's :meth:`~archprof.spec.registry.Op.cost` takes its inputs as :class:`Tensor` (the shape
with the batch first, and the strides, which decide whether a reshape is a view or a copy) and
returns a :class:`Step`: its outputs, its parameters, multiply-accumulates and FLOPs by the
conventions of the traced analysis (README, "Units and conventions"), the elements it writes as
output (its activation memory) and what it does to the image axes (:data:`Effect`, interpreted by
:mod:`archprof.analysis.fast`). The figures must equal those the traced pass counts for the module
the op builds; ``tests/analysis/test_fast.py`` checks that over the whole zoo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Tensor:
    """A tensor as far as costs go: its shape (batch first), its strides, whether the op that made it
    allocated it (False for views and for an input passed through), and the analysis's dtype (the
    analysis sets it on every layer's inputs; an op's own results need not)."""
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    fresh: bool = True
    dtype: str = "fp32"

    @property
    def half(self) -> bool:
        return self.dtype in ("bf16", "fp16")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def sample(self) -> tuple[int, ...]:
        """The shape without the batch, as the ops' shape rules take it."""
        return self.shape[1:]


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def new(shape: tuple[int, ...]) -> Tensor:
    """A tensor the op allocates, in the standard (contiguous) layout."""
    return Tensor(tuple(shape), contiguous_strides(shape))


def like(x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
    """A tensor allocated in the layout of ``x`` (element-wise ops, normalisation, convolution on a
    channels-last input): dense, its dims in the order of ``x``'s strides, as PyTorch's TensorIterator
    and ``suggest_memory_format`` lay out their outputs."""
    shape = tuple(x.shape if shape is None else shape)
    if len(shape) != len(x.shape) or x.strides == contiguous_strides(x.shape):
        return new(shape)
    order = sorted(range(len(shape)), key=lambda d: (x.strides[d] if x.shape[d] != 1 else 0, -d))  # fastest first
    strides = [0] * len(shape)
    step = 1
    for d in order:
        strides[d] = step
        step *= max(shape[d], 1)
    return Tensor(shape, tuple(strides))


def channels_last(x: Tensor) -> bool:
    """Whether a 4-d input is laid out channels-last, so that a convolution or batch norm keeps it so."""
    if len(x.shape) != 4:
        return False
    n, c, h, w = x.shape
    return x.strides == (h * w * c, 1, w * c, c) and c > 1 and h * w > 1


def same_format(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The output of a convolution, pooling or batch norm: channels-last if its input is, else contiguous."""
    if channels_last(x):
        n, c, h, w = shape
        return Tensor(tuple(shape), (h * w * c, 1, w * c, c))
    return new(shape)


def passed(x: Tensor) -> Tensor:
    """The input itself, returned unchanged (identity, dropout at inference, in-place ops)."""
    return Tensor(x.shape, x.strides, fresh=False)


def permuted(x: Tensor, order: tuple[int, ...]) -> Tensor:
    return Tensor(tuple(x.shape[d] for d in order), tuple(x.strides[d] for d in order), fresh=False)


def narrowed(x: Tensor, dim: int, size: int, step: int = 1) -> Tensor:
    """A slice along ``dim`` (a view): ``size`` positions ``step`` apart."""
    shape, strides = list(x.shape), list(x.strides)
    shape[dim], strides[dim] = size, strides[dim] * step
    return Tensor(tuple(shape), tuple(strides), fresh=False)


def selected(x: Tensor, dim: int) -> Tensor:
    return Tensor(x.shape[:dim] + x.shape[dim + 1:], x.strides[:dim] + x.strides[dim + 1:], fresh=False)


def view_strides(x: Tensor, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The strides of ``x.view(shape)``, or None when no view exists (a reshape then copies).

    PyTorch's ``computeStride``, written out: each run of old dims that is contiguous in memory may
    be regrouped into new dims of the same total size.
    """
    old_shape, old_strides = x.shape, x.strides
    if math.prod(old_shape) == 0:
        return contiguous_strides(shape)
    new_strides = [0] * len(shape)
    view_d = len(shape) - 1
    chunk_base = old_strides[-1] if old_strides else 1
    tensor_numel, view_numel = 1, 1
    for d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[d]
        if d == 0 or (old_shape[d - 1] != 1 and old_strides[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = old_strides[d - 1]
                tensor_numel, view_numel = 1, 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def reshaped(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``x.reshape(shape)``: a view where one exists, else a contiguous copy (``fresh``)."""
    strides = view_strides(x, tuple(shape))
    return new(shape) if strides is None else Tensor(tuple(shape), strides, fresh=False)


# -- what an op does to the image axes (interpreted by archprof.analysis.fast) -----------------
@dataclass(frozen=True)
class Pointwise:
    """Each output position reads the same positions of its inputs (broadcast from the right)."""


@dataclass(frozen=True)
class Window:
    """Convolution or pooling over the last two dims (``channels_last``: the two before the last), per axis (H, W)."""
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    channels_last: bool = False


@dataclass(frozen=True)
class Adaptive:
    """Adaptive pooling of the last two dims to the output's size; 1x1 sees the whole image."""


@dataclass(frozen=True)
class Resample:
    """Interpolation of the last two dims to the output's size."""
    mode: str
    align_corners: bool = False


@dataclass(frozen=True)
class Shift:
    """Padding of the last two dims: positions move by ``(-top, -left)``."""
    top: int
    left: int


@dataclass(frozen=True)
class Reshape:
    """The same elements regrouped into the output's dims (view, flatten, unflatten)."""


@dataclass(frozen=True)
class Permute:
    order: tuple[int, ...]


@dataclass(frozen=True)
class Pieces:
    """Splitting along ``dim`` into pieces of ``sizes`` (chunk, split, a slice when one piece)."""
    dim: int
    sizes: tuple[int, ...]
    start: int = 0
    step: int = 1


@dataclass(frozen=True)
class Select:
    dim: int


@dataclass(frozen=True)
class Concat:
    """Concatenation along ``dim``; ``before`` positions that see no pixel (a class token) come first."""
    dim: int
    before: int = 0


@dataclass(frozen=True)
class Last:
    """A linear map over the last dim (``mixes``: a linear layer) or statistics over it (a layer norm)."""
    mixes: bool


@dataclass(frozen=True)
class Merge:
    """Each output position reads every position of the image axes (attention over all tokens)."""


@dataclass(frozen=True)
class Untracked:
    """The op moves the image axes in a way the analysis does not model (windowed attention, unfold)."""


Effect = Union[Pointwise, Window, Adaptive, Resample, Shift, Reshape, Permute, Pieces, Select, Concat, Last, Merge, Untracked]


@dataclass(frozen=True)
class Step:
    """An op applied once: its outputs and what it costs.

    ``written`` is the number of output elements the op allocates (None: every ``fresh`` output);
    ``type`` names the module in the table (None: the op's :attr:`~archprof.spec.registry.Op.module`).
    """
    out: Union[Tensor, tuple[Tensor, ...]]
    params: int = 0
    macs: int = 0
    flops: int = 0
    written: int | None = None
    effect: Effect = field(default_factory=Pointwise)
    type: str | None = None
    bools: int = 0   # elements of boolean tensors written (one byte each, whatever the dtype)
    wide: int = 0    # elements written in float32 whatever the dtype (half-precision attention on a CPU)

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        return self.out if isinstance(self.out, tuple) else (self.out,)

    @property
    def elements(self) -> int:
        return self.written if self.written is not None else sum(t.numel for t in self.outputs if t.fresh)


def batched(x: Tensor, sample: tuple[int, ...]) -> tuple[int, ...]:
    """An output shape: ``x``'s batch, then the shape rule's answer for one sample."""
    return (x.shape[0], *sample)


class Tally:
    """The running cost of a module whose forward runs several ops (attention, Swin's windows): each
    method is one op of that forward, as PyTorch runs it, and adds what that op counts."""

    def __init__(self) -> None:
        self.macs = self.flops = self.written = self.bools = self.wide = 0

    def made(self, t: Tensor, wide: bool = False) -> Tensor:
        """Count ``t`` if the op allocated it (``wide``: in float32 whatever the dtype)."""
        if t.fresh and wide:
            self.wide += t.numel
        elif t.fresh:
            self.written += t.numel
        return t

    def reshape(self, x: Tensor, shape: tuple[int, ...], wide: bool = False) -> Tensor:
        return self.made(reshaped(x, shape), wide)

    def elementwise(self, x: Tensor, flops_per_element: int = 1, shape: tuple[int, ...] | None = None, boolean: bool = False,
                    wide: bool = False) -> Tensor:
        out = like(x, shape)
        self.flops += flops_per_element * out.numel
        if boolean:
            self.bools += out.numel
            return Tensor(out.shape, out.strides, fresh=False)
        return self.made(out, wide)

    def linear(self, x: Tensor, out_features: int, bias: bool) -> Tensor:
        rows = x.numel // x.shape[-1]
        macs = rows * x.shape[-1] * out_features
        self.macs += macs
        self.flops += 2 * macs + bias * rows * out_features
        return self.made(new((*x.shape[:-1], out_features)))

    def matmul(self, a: Tensor, b: Tensor, wide: bool = False) -> Tensor:
        """``a @ b`` of (..., n, k) by (..., k, m): both reshaped to 3-d (copied where no view exists), one bmm."""
        lead = a.shape[:-2]
        batch = math.prod(lead)
        a3 = self.reshape(a, (batch, *a.shape[-2:]), wide)
        b3 = self.reshape(b, (batch, *b.shape[-2:]), wide)
        n, k, m = a3.shape[1], a3.shape[2], b3.shape[2]
        self.macs += batch * n * k * m
        self.flops += 2 * batch * n * k * m
        return self.made(new((*lead, n, m)), wide)

    def step(self, out: Tensor | tuple[Tensor, ...], params: int, effect: Effect, type_: str) -> Step:
        return Step(out, params=params, macs=self.macs, flops=self.flops, written=self.written, effect=effect, type=type_,
                    bools=self.bools, wide=self.wide)
