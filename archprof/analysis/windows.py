"""Which input pixels each position along one image axis reads, exactly, as a periodic map.

Position ``o`` of a feature map reads the input pixels ``lo(o)..hi(o)`` along an image axis. Every
op the tracker models maps an output position to a window of its input positions that repeats
with a period: ``lo(o + period) = lo(o) + advance``. Convolutions, pooling and slicing have period 1
(advance = stride or step); a transposed convolution or an upsampling by r has period r and advance
1; an adaptive pooling from 7 to 3 positions has period 3 and advance 7. Composing two such maps
gives another one, so windows stay exact through strides, dilations, padding offsets, transposed
convolutions, slicing steps, pixel (un)shuffles and interpolation, where the classic size/jump
recurrence holds only for chains of kernels and strides. Hand-written: receptive-field libraries
implement that recurrence for conv/pool module chains only.

The model ignores the image border (positions beyond it are read as if the image went on), so a
window is the receptive field of an interior position, as in the papers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

MAX_PERIOD = 4096  # beyond this an axis is reported unknown rather than tracked


@dataclass(frozen=True)
class IndexMap:
    """An op along one axis: output position ``o`` reads input positions ``reads(o)`` (first, last)."""
    period: int
    advance: int
    reads: Callable[[int], tuple[int, int]]


def window(kernel: int, stride: int, dilation: int = 1, padding: int = 0) -> IndexMap:
    """Convolution, pooling, pixel unshuffle: ``kernel`` taps ``dilation`` apart, every ``stride``."""
    span = (kernel - 1) * dilation
    return IndexMap(1, stride, lambda o: (o * stride - padding, o * stride - padding + span))


def shift(start: int, step: int = 1) -> IndexMap:
    """Slicing from ``start`` every ``step`` positions; padding by p is a shift by −p."""
    return IndexMap(1, step, lambda o: (start + o * step, start + o * step))


def transposed(kernel: int, stride: int, dilation: int = 1, padding: int = 0) -> IndexMap:
    """A transposed convolution: output o gets input i wherever o = i·stride − padding + tap·dilation."""
    span = (kernel - 1) * dilation
    return IndexMap(stride, 1, lambda o: (-((span - o - padding) // stride), (o + padding) // stride))


def adaptive(n_in: int, n_out: int) -> IndexMap:
    """Adaptive pooling: output o pools input positions floor(o·n/m) .. ceil((o+1)·n/m) − 1."""
    ratio = Fraction(n_in, n_out)
    return IndexMap(ratio.denominator, ratio.numerator,
                    lambda o: (math.floor(o * ratio), math.ceil((o + 1) * ratio) - 1))


#: Interpolation kernels: the source coordinate of output o, and the taps before and after it.
_SOURCE = {
    "nearest": (lambda o, r: o * r, 0, 0),
    "nearest-exact": (lambda o, r: (o + Fraction(1, 2)) * r, 0, 0),
    "linear": (lambda o, r: (o + Fraction(1, 2)) * r - Fraction(1, 2), 0, 1),
    "cubic": (lambda o, r: (o + Fraction(1, 2)) * r - Fraction(1, 2), 1, 2),
}


def resample(n_in: int, n_out: int, mode: str, align_corners: bool = False) -> IndexMap | None:
    """Interpolation from ``n_in`` to ``n_out`` positions as PyTorch computes it from the sizes."""
    if align_corners:
        if n_in < 2 or n_out < 2:
            return None
        ratio = Fraction(n_in - 1, n_out - 1)
        source = lambda o, r: o * r  # noqa: E731 - the corners are aligned: no half-pixel shift
        before, after = _SOURCE[mode][1:]
    else:
        ratio = Fraction(n_in, n_out)
        source, before, after = _SOURCE[mode]

    def reads(o: int) -> tuple[int, int]:
        x = source(o, ratio)
        base = math.floor(x)
        if mode.startswith("nearest") or x == base:   # an exact hit weighs one tap only
            return base, base
        return base - before, base + after

    # ratio p/q: q output positions advance p input positions, the half-pixel shifts included
    return IndexMap(ratio.denominator, ratio.numerator, reads)


@dataclass(frozen=True)
class Axis:
    """The input window of every position along one axis: position ``o`` reads input pixels
    ``lo[o % P] + (o // P)·advance`` to ``hi[o % P] + (o // P)·advance``, P being the period."""
    lo: tuple[int, ...]
    hi: tuple[int, ...]
    advance: int

    @classmethod
    def pixels(cls) -> "Axis":
        """The input image: each pixel reads itself."""
        return cls((0,), (0,), 1)

    @property
    def period(self) -> int:
        return len(self.lo)

    @property
    def size(self) -> int:
        """The widest window: the receptive-field size along this axis."""
        return max(h - l + 1 for l, h in zip(self.lo, self.hi))

    @property
    def jump(self) -> Fraction:
        """Input pixels between neighbouring positions, on average over a period."""
        return Fraction(self.advance, self.period)

    def window(self, o: int) -> tuple[int, int]:
        turns, phase = divmod(o, self.period)
        return self.lo[phase] + turns * self.advance, self.hi[phase] + turns * self.advance

    def then(self, op: IndexMap) -> "Axis | None":
        """This axis read through ``op``; None when the period would grow past :data:`MAX_PERIOD`."""
        if op.advance <= 0:
            return None
        # the shortest run of output positions after which both maps repeat
        period = op.period * (self.period // math.gcd(op.advance, self.period))
        if period > MAX_PERIOD:
            return None
        advance = period // op.period * op.advance // self.period * self.advance
        lo, hi = [], []
        for o in range(period):
            first, last = op.reads(o)  # windows grow with o, so the ends come from the end taps
            lo.append(self.window(first)[0])
            hi.append(self.window(last)[1])
        return _reduced(lo, hi, advance)

    def union(self, other: "Axis") -> "Axis | None":
        """Positions that read both maps (an element-wise op): the union of their windows."""
        if self.jump != other.jump:
            return None
        period = math.lcm(self.period, other.period)
        if period > MAX_PERIOD:
            return None
        pairs = [(self.window(o), other.window(o)) for o in range(period)]
        return _reduced([min(a[0], b[0]) for a, b in pairs], [max(a[1], b[1]) for a, b in pairs],
                        self.advance * (period // self.period))


def _reduced(lo: list[int], hi: list[int], advance: int) -> Axis:
    """The same map with its shortest period (an upsampling then a stride of the same factor is period 1)."""
    period = len(lo)
    for p in range(1, period):
        if period % p or (advance * p) % period:
            continue
        step = advance * p // period
        if all(lo[i + p] == lo[i] + step and hi[i + p] == hi[i] + step for i in range(period - p)):
            return Axis(tuple(lo[:p]), tuple(hi[:p]), step)
    return Axis(tuple(lo), tuple(hi), advance)
