"""Receptive-field states and how element-wise ops, reshapes and permutations carry them: the
torch-free half of :mod:`.receptive`, shared by the traced analysis and the one without torch
(:mod:`.fast`). A :class:`Field` says, per image axis, which tensor dim indexes it and the exact
input window of every position along it (:mod:`.windows`)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Union

from archprof.analysis import windows
from archprof.analysis.windows import Axis


@dataclass(frozen=True)
class Field:
    dims: tuple[int, int]      # tensor dims of the H and W axes (equal once merged into tokens)
    axes: tuple[Axis, Axis]    # the input window of every position along H and along W
    extent: tuple[int, int] | None = None  # positions along H and W, to find them again after a merge
    gated: bool = False        # global context on top: a gate (squeeze-and-excitation), image statistics

    @property
    def size(self) -> tuple[int, int]:
        return self.axes[0].size, self.axes[1].size

    @property
    def jump(self) -> tuple[int | float, int | float]:
        return tuple(int(j) if j.denominator == 1 else float(j) for j in (a.jump for a in self.axes))


GLOBAL = "global"
UNKNOWN = "unknown"
State = Union[Field, str, None]  # None: the tensor does not depend on the image (weights, constants)


def image_field(ndim: int, extent: tuple[int, int] | None = None) -> Field:
    """The model input: each pixel sees itself; H and W are the last two dims."""
    return Field((ndim - 2, ndim - 1), (Axis.pixels(), Axis.pixels()), extent)


def dims_in(dim: Any, ndim: int) -> set[int]:
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return {d % ndim for d in dims if isinstance(d, int)} if ndim else set()


def through(field: Field, maps: list[windows.IndexMap | None]) -> State:
    """The field read through one index map per image axis."""
    axes = tuple(a.then(m) if m is not None else None for a, m in zip(field.axes, maps))
    return UNKNOWN if None in axes else Field(field.dims, axes, gated=field.gated)


def spatial_arg(value: Any, index: int, default: int) -> int:
    """Entry ``index`` of a per-spatial-dim argument that may be one int or a shorter list."""
    if isinstance(value, (list, tuple)):
        return int(value[index]) if index < len(value) else (int(value[0]) if len(value) == 1 else default)
    return default if value is None else int(value)


def on_image(s: State, ndim: int, spatial: int) -> bool:
    """The field's image axes are among the last ``spatial`` of ``ndim`` dims, where a conv or pool works."""
    return isinstance(s, Field) and s.dims[0] != s.dims[1] and min(s.dims) >= ndim - spatial


def passthrough(s: State) -> State:
    return s if s in (GLOBAL, UNKNOWN, None) else UNKNOWN


def combine(states: list[State], out_ndim: int, in_ndims: list[int], gates: list[bool] | None = None) -> State:
    """Element-wise ops: the union over inputs, dims aligned by broadcasting from the right.

    ``gates[i]`` says input ``i`` is broadcast over the image axes (one value per channel): a global
    such input marks the others' field as gated instead of making it global.
    """
    gates = gates or [False] * len(states)
    fields = [(s, n) for s, n, g in zip(states, in_ndims, gates) if s is not None and not (s == GLOBAL and g)]
    gated = len(fields) < sum(s is not None for s in states)
    if not fields:
        return GLOBAL if gated else None
    if any(s == UNKNOWN for s, _ in fields):
        return UNKNOWN
    if any(s == GLOBAL for s, _ in fields):
        return GLOBAL
    first, first_ndim = fields[0]
    dims = tuple(d + out_ndim - first_ndim for d in first.dims)
    axes = list(first.axes)
    for f, n in fields[1:]:
        if tuple(d + out_ndim - n for d in f.dims) != dims:
            return UNKNOWN
        axes = [a.union(b) if a is not None else None for a, b in zip(axes, f.axes)]
    if None in axes:
        return UNKNOWN  # paths at different resolutions meet: not modelled
    return Field(dims, tuple(axes), first.extent, gated or any(f.gated for f, _ in fields))


def remap(state: State, mapping: dict[int, int | None]) -> State:
    """Move the axes to new dims; an axis whose dim disappears makes the field unknown."""
    if not isinstance(state, Field):
        return state
    new = tuple(mapping.get(d) for d in state.dims)
    return UNKNOWN if None in new else replace(state, dims=new)


def reshape_map(old: tuple[int, ...], new: tuple[int, ...]) -> dict[int, int | None]:
    """Which new dim each old dim ends up in; None when an old dim is split across new dims."""
    mapping: dict[int, int | None] = {}
    i = j = 0
    while i < len(old) and j < len(new):
        group_old, group_new = [i], [j]
        a, b = old[i], new[j]
        while a != b:
            if a < b:
                i += 1
                if i >= len(old):
                    break
                group_old.append(i)
                a *= old[i]
            else:
                j += 1
                if j >= len(new):
                    break
                group_new.append(j)
                b *= new[j]
        for d in group_old:
            nontrivial = [n for n in group_new if new[n] != 1]
            if old[d] == 1:
                mapping[d] = group_new[0]
            elif len(nontrivial) <= 1:
                mapping[d] = nontrivial[0] if nontrivial else group_new[0]
            else:
                mapping[d] = None  # split across several dims
        i, j = i + 1, j + 1
    for d in range(len(old)):
        mapping.setdefault(d, None if old[d] != 1 else len(new) - 1)
    return mapping


# -- the rules by shapes alone: the traced analysis calls them with its tensors' shapes, the
# -- analysis without torch with the shapes its ops' cost rules give -----------------------------
Shape = tuple[int, ...]


def with_extent(state: State, out: Shape) -> State:
    """Record how many positions the H and W dims hold (kept as is while they are merged)."""
    if isinstance(state, Field) and state.dims[0] != state.dims[1] and max(state.dims) < len(out):
        return replace(state, extent=(int(out[state.dims[0]]), int(out[state.dims[1]])))
    return state


def broadcastable(small: Shape, big: Shape) -> bool:
    return all(a in (1, b) for a, b in zip(reversed(small), reversed(big)))


def gates(states: list[State], shapes: list[Shape], out: Shape) -> list[bool]:
    """Which inputs hold one value per channel, broadcast over the image axes of the others' field."""
    field = next((s for s in states if isinstance(s, Field)), None)
    if field is None:
        return [False] * len(shapes)
    ndim = next(len(t) for s, t in zip(states, shapes) if s is field)
    image = [d + len(out) - ndim for d in field.dims]   # the image dims, in the output's numbering
    result = []
    for t in shapes:
        own = [d - (len(out) - len(t)) for d in image]
        result.append(all(d < 0 or t[d] == 1 for d in own) and out[image[0]] * out[image[1]] > 1)
    return result


def elementwise(states: list[State], shapes: list[Shape], out: Shape) -> State:
    """An element-wise op: the union of its inputs' fields where they broadcast to the output."""
    if len(out) >= max(len(t) for t in shapes) and all(broadcastable(t, out) for t in shapes):
        return combine(states, len(out), [len(t) for t in shapes], gates(states, shapes, out))
    return UNKNOWN


def windowed(s: State, ndim: int, spatial: int, map_of) -> State:
    """Convolution or pooling over the last ``spatial`` dims; ``map_of(i)`` is the index map along
    the i-th of them (kernel, stride, padding and dilation by position, never by an H/W guess)."""
    if not on_image(s, ndim, spatial):
        return passthrough(s)
    return through(s, [map_of(d - (ndim - spatial)) for d in s.dims])


def adapted(s: State, x: Shape, out: Shape) -> State:
    """Adaptive pooling to the output's last two dims: 1x1 sees the whole image."""
    if not isinstance(s, Field):
        return s
    if tuple(out[-2:]) == (1, 1):
        return GLOBAL
    if not on_image(s, len(x), 2):
        return UNKNOWN
    return through(s, [windows.adaptive(int(x[d]), int(out[d])) for d in s.dims])


def resampled(s: State, x: Shape, out: Shape, mode: str, align: bool) -> State:
    """Interpolation as PyTorch computes it from the input and output sizes."""
    if not on_image(s, len(x), 2):
        return passthrough(s)
    return through(s, [windows.resample(int(x[d]), int(out[d]), mode, align) for d in s.dims])


def padded(s: State, ndim: int, pad: list[int]) -> State:
    """Padding (or cropping, when negative) shifts positions: (left, right) pairs from the last dim."""
    if not isinstance(s, Field):
        return s
    maps = []
    for d in s.dims:
        k = 2 * (ndim - 1 - d)
        maps.append(windows.shift(-int(pad[k])) if k < len(pad) else windows.shift(0))
    return through(s, maps) if s.dims[0] != s.dims[1] else (s if not any(pad) else UNKNOWN)


def reshaped(s: State, x: Shape, out: Shape) -> State:
    state = remap(s, reshape_map(tuple(x), tuple(out)))
    if state == UNKNOWN and isinstance(s, Field) and s.dims[0] == s.dims[1] and s.extent:
        # merged (H·W or batch·H·W) positions split back into separate H and W dims, e.g. a Linear
        # applied to a channels-last map; found by their sizes where the merged dim was
        h, w = s.extent
        start = s.dims[0]
        for j in range(start, min(start + 1 + len(out) - len(x), len(out) - 1)):
            if (out[j], out[j + 1]) == (h, w):
                return replace(s, dims=(j, j + 1))
    return state


def permuted(s: State, order: list[int]) -> State:
    return remap(s, {old: new for new, old in enumerate(order)})


def selected(s: State, ndim: int, d: int) -> State:
    if isinstance(s, Field) and d in s.dims:
        return UNKNOWN
    return remap(s, {old: old - (old > d) for old in range(ndim) if old != d})


def sliced(s: State, x: Shape, d: int, start: int, step: int) -> State:
    """Positions start, start + step, …: an offset, and neighbours ``step`` times further apart."""
    if not isinstance(s, Field) or d not in s.dims:
        return s
    n = int(x[d])
    start = min(max(start + n if start < 0 else start, 0), n)
    if s.dims[0] == s.dims[1]:
        return s if (start, step) == (0, 1) else UNKNOWN   # a slice of merged (H·W) positions
    return through(s, [windows.shift(start, step) if dim == d else windows.shift(0) for dim in s.dims])


def split(s: State, d: int, sizes: list[int]) -> list[State]:
    """Pieces along an image axis start further along it; along other dims each piece keeps the field."""
    if not isinstance(s, Field) or d not in s.dims:
        return [s] * len(sizes)
    if s.dims[0] == s.dims[1]:
        return [UNKNOWN] * len(sizes)
    states, start = [], 0
    for size in sizes:
        states.append(through(s, [windows.shift(start) if dim == d else windows.shift(0) for dim in s.dims]))
        start += int(size)
    return states


def concatenated(states: list[State], shapes: list[Shape], out: Shape, dim: int) -> State:
    """Concatenation of channels keeps the union of fields. Along an image axis, one map beside
    constants (a class token before the patch tokens) shifts its positions; maps side by side are
    not modelled."""
    fields = [(i, st) for i, st in enumerate(states) if isinstance(st, Field)]
    along = [st for _, st in fields if dim in st.dims]   # cat only takes tensors of one rank
    if not along:
        return combine(states, len(out), [len(t) for t in shapes])
    if len(fields) > 1 or any(st in (GLOBAL, UNKNOWN) for st in states):
        return UNKNOWN
    i, field = fields[0]
    offset = sum(int(t[dim]) for t in shapes[:i])
    if field.dims[0] == field.dims[1]:
        return field   # merged tokens: the constants are extra tokens, the image tokens keep their fields
    return through(field, [windows.shift(-offset) if d == dim else windows.shift(0) for d in field.dims])
