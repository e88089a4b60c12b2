"""Receptive fields through any dataflow graph, tracked tensor by tensor at the aten level.

Peers compute receptive fields for straight chains of conv/pool modules. Here every tensor of the
traced forward carries a :class:`Field`: for each image axis (H, W), the tensor dimension that
indexes it and the exact input window of every position along it (:mod:`.windows`). Ops combine
the fields of their inputs, so branches (Inception, residual shortcuts, YOLO's Focus) give the union
of all paths. ``GLOBAL`` means every output sees the whole input (global pooling, a linear layer
over flattened positions, attention over all tokens); ``UNKNOWN`` means an op moved the image axes
in a way this module does not model (windowed attention, ``unfold``, advanced indexing): reported
as such, never guessed. Only ops with a rule here or the ``pointwise`` tag keep a field; any other
op that reads one is unknown. A global value broadcast over the image axes into an element-wise op
(a squeeze-and-excitation gate) or normalisation statistics over the image do not make the map
global: the field stays that of the convolutional path and is marked ``gated``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Union

import torch

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


def _dims(dim: Any, ndim: int) -> set[int]:
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return {d % ndim for d in dims if isinstance(d, int)} if ndim else set()


def _through(field: Field, maps: list[windows.IndexMap | None]) -> State:
    """The field read through one index map per image axis."""
    axes = tuple(a.then(m) if m is not None else None for a, m in zip(field.axes, maps))
    return UNKNOWN if None in axes else Field(field.dims, axes, gated=field.gated)


def _spatial(value: Any, index: int, default: int) -> int:
    """Entry ``index`` of a per-spatial-dim argument that may be one int or a shorter list."""
    if isinstance(value, (list, tuple)):
        return int(value[index]) if index < len(value) else (int(value[0]) if len(value) == 1 else default)
    return default if value is None else int(value)


def _on_image(s: State, x: torch.Tensor, spatial: int) -> bool:
    """The field's image axes are among the last ``spatial`` dims, where a conv or pool works."""
    return isinstance(s, Field) and s.dims[0] != s.dims[1] and min(s.dims) >= x.dim() - spatial


def _passthrough(s: State) -> State:
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


def _remap(state: State, mapping: dict[int, int | None]) -> State:
    """Move the axes to new dims; an axis whose dim disappears makes the field unknown."""
    if not isinstance(state, Field):
        return state
    new = tuple(mapping.get(d) for d in state.dims)
    return UNKNOWN if None in new else replace(state, dims=new)


def _reshape_map(old: tuple[int, ...], new: tuple[int, ...]) -> dict[int, int | None]:
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


def propagate(func: Any, args: tuple, kwargs: dict, out: Any, state_of) -> State | list[State]:
    """The field of ``out`` (a list, one per output, for splits) from the fields of the tensor arguments."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    for a in args:
        if isinstance(a, (list, tuple)):
            tensors += [t for t in a if isinstance(t, torch.Tensor)]
    states = [state_of(t) for t in tensors]
    if all(s is None for s in states):
        return None
    first = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(first, torch.Tensor):
        return None
    x, s = tensors[0], states[0]
    name = func.overloadpacket.__name__
    base = name.rstrip("_") if not name.startswith("_") else name
    rule = _RULES.get(base)
    if rule is not None:
        state = rule(args, kwargs, out if base in _SPLITS else first, x, s, states, tensors)
        if isinstance(state, list):
            return [_with_extent(st, t) for st, t in zip(state, out)]
    elif torch.Tag.pointwise in func.tags or base in _ELEMENTWISE:
        if first.dim() >= max(t.dim() for t in tensors) and all(_broadcastable(t.shape, first.shape) for t in tensors):
            state = combine(states, first.dim(), [t.dim() for t in tensors], _gates(states, tensors, first))
        else:
            state = UNKNOWN
    else:
        state = GLOBAL if all(st in (None, GLOBAL) for st in states) else UNKNOWN  # not modelled: never a guess
    return _with_extent(state, first)


def _with_extent(state: State, out: torch.Tensor) -> State:
    """Record how many positions the H and W dims hold (kept as is while they are merged)."""
    if isinstance(state, Field) and state.dims[0] != state.dims[1] and max(state.dims) < out.dim():
        return replace(state, extent=(int(out.shape[state.dims[0]]), int(out.shape[state.dims[1]])))
    return state


def _gates(states: list[State], tensors: list[torch.Tensor], out: torch.Tensor) -> list[bool]:
    """Which inputs hold one value per channel, broadcast over the image axes of the others' field."""
    field = next((s for s in states if isinstance(s, Field)), None)
    if field is None:
        return [False] * len(tensors)
    ndim = next(t.dim() for s, t in zip(states, tensors) if s is field)
    image = [d + out.dim() - ndim for d in field.dims]   # the image dims, in the output's numbering
    gates = []
    for t in tensors:
        own = [d - (out.dim() - t.dim()) for d in image]
        gates.append(all(d < 0 or t.shape[d] == 1 for d in own) and out.shape[image[0]] * out.shape[image[1]] > 1)
    return gates


def _broadcastable(small, big) -> bool:
    return all(a in (1, b) for a, b in zip(reversed(small), reversed(big)))


# -- rules: (args, kwargs, out, x, s, states, tensors) -> State ---------------------------------
def _conv(args, kwargs, out, x, s, states, tensors):
    """aten.convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups)."""
    weight = args[1]
    spatial = weight.dim() - 2
    if not _on_image(s, x, spatial):
        return _passthrough(s)
    maps = []
    for d in s.dims:
        i = d - (x.dim() - spatial)   # kernel, stride, padding and dilation by position, never by H/W guess
        kernel, stride = int(weight.shape[2 + i]), _spatial(args[3], i, 1)
        padding, dilation = _spatial(args[4], i, 0), _spatial(args[5], i, 1)
        make = windows.transposed if len(args) > 6 and args[6] else windows.window
        maps.append(make(kernel, stride, dilation, padding))
    return _through(s, maps)


def _pool(spatial: int, dilation_at: int | None):
    """max_pool(x, kernel, stride, padding, dilation, ceil) / avg_pool(x, kernel, stride, padding, ceil, …)."""
    def rule(args, kwargs, out, x, s, states, tensors):
        if not _on_image(s, x, spatial):
            return _passthrough(s)
        kernel = args[1]
        stride = args[2] if len(args) > 2 and args[2] else kernel
        padding = args[3] if len(args) > 3 else 0
        dilation = args[dilation_at] if dilation_at is not None and len(args) > dilation_at else 1
        maps = []
        for d in s.dims:
            i = d - (x.dim() - spatial)
            maps.append(windows.window(_spatial(kernel, i, 1), _spatial(stride, i, 1), _spatial(dilation, i, 1),
                                       _spatial(padding, i, 0)))
        return _through(s, maps)

    return rule


def _adaptive(args, kwargs, out, x, s, states, tensors):
    if not isinstance(s, Field):
        return s
    if tuple(out.shape[-2:]) == (1, 1):
        return GLOBAL
    if not _on_image(s, x, 2):
        return UNKNOWN
    return _through(s, [windows.adaptive(int(x.shape[d]), int(out.shape[d])) for d in s.dims])


def _resample(mode: str):
    def rule(args, kwargs, out, x, s, states, tensors):
        """Interpolation as PyTorch computes it from the input and output sizes."""
        if not _on_image(s, x, 2):
            return _passthrough(s)
        align = bool(args[2]) if mode in ("linear", "cubic") and len(args) > 2 and isinstance(args[2], bool) else False
        maps = [windows.resample(int(x.shape[d]), int(out.shape[d]), mode, align) for d in s.dims]
        return _through(s, maps)

    return rule


def _antialiased(mode: str):
    plain = _resample(mode)

    def rule(args, kwargs, out, x, s, states, tensors):
        """Antialiasing widens the kernel when shrinking: not modelled then."""
        if isinstance(s, Field) and any(out.shape[d] < x.shape[d] for d in s.dims):
            return UNKNOWN
        return plain(args, kwargs, out, x, s, states, tensors)

    return rule


def _pixel_shuffle(args, kwargs, out, x, s, states, tensors):
    """Channels to space: output position o along an axis is input position o // r."""
    if not _on_image(s, x, 2):
        return _passthrough(s)
    r = int(args[1])
    return _through(s, [windows.resample(int(x.shape[d]), int(x.shape[d]) * r, "nearest") for d in s.dims])


def _pixel_unshuffle(args, kwargs, out, x, s, states, tensors):
    """Space to channels: one position gathers r x r input positions."""
    if not _on_image(s, x, 2):
        return _passthrough(s)
    r = int(args[1])
    return _through(s, [windows.window(r, r) for _ in s.dims])


def _pad(args, kwargs, out, x, s, states, tensors):
    """Padding (or cropping, when negative) shifts positions: (left, right) pairs from the last dim."""
    if not isinstance(s, Field):
        return s
    pad = list(args[1])
    maps = []
    for d in s.dims:
        k = 2 * (x.dim() - 1 - d)
        maps.append(windows.shift(-int(pad[k])) if k < len(pad) else windows.shift(0))
    return _through(s, maps) if s.dims[0] != s.dims[1] else (s if not any(pad) else UNKNOWN)


def _along(at: int, default: Any = None, keyword: str = "dim"):
    """Ops that reorder or mix positions along the dims at ``args[at]``: unknown when those are image
    axes, untouched otherwise (sorting channels, gathering classes)."""
    def rule(args, kwargs, out, x, s, states, tensors):
        dim = args[at] if len(args) > at else kwargs.get(keyword, default)
        if isinstance(s, Field) and (dim is None or dim == [] or _dims(dim, x.dim()) & set(s.dims)):
            return UNKNOWN
        return s

    return rule


def _reduce(at: int = 1):
    """Reductions over the dims at ``args[at]`` (all dims when none): over an image axis, global."""
    def rule(args, kwargs, out, x, s, states, tensors):
        if not isinstance(s, Field):
            return s
        dim = args[at] if len(args) > at else kwargs.get("dim")
        dims = set(range(x.dim())) if dim is None or dim == [] else _dims(dim, x.dim())
        if dims & set(s.dims):
            return GLOBAL
        keepdim = out.dim() == x.dim()
        mapping = {d: (d if keepdim else d - sum(r < d for r in dims)) for d in range(x.dim()) if d not in dims}
        return _remap(s, mapping)

    return rule


def _softmax(args, kwargs, out, x, s, states, tensors):
    if isinstance(s, Field) and args[1] % x.dim() in s.dims:
        return GLOBAL
    return s


def _statistics(dims_of):
    """Normalisation: statistics over an image axis add global context, like a gate."""
    def rule(args, kwargs, out, x, s, states, tensors):
        if isinstance(s, Field) and set(s.dims) & dims_of(args, x):
            return replace(s, gated=True)
        return s

    return rule


def _first(args, kwargs, out, x, s, states, tensors):
    """Ops whose other tensor arguments are per-channel parameters (batch norm in inference)."""
    return s


def _view(args, kwargs, out, x, s, states, tensors):
    state = _remap(s, _reshape_map(tuple(x.shape), tuple(out.shape)))
    if state == UNKNOWN and isinstance(s, Field) and s.dims[0] == s.dims[1] and s.extent:
        # merged (H·W or batch·H·W) positions split back into separate H and W dims, e.g. a Linear
        # applied to a channels-last map; found by their sizes where the merged dim was
        h, w = s.extent
        start = s.dims[0]
        for j in range(start, min(start + 1 + out.dim() - x.dim(), out.dim() - 1)):
            if (out.shape[j], out.shape[j + 1]) == (h, w):
                return replace(s, dims=(j, j + 1))
    return state


def _expand(args, kwargs, out, x, s, states, tensors):
    return _remap(s, {d: d + out.dim() - x.dim() for d in range(x.dim())})


def _permute(args, kwargs, out, x, s, states, tensors):
    order = [d % x.dim() for d in args[1]]
    return _remap(s, {old: new for new, old in enumerate(order)})


def _transpose(args, kwargs, out, x, s, states, tensors):
    a, b = (args[1] % x.dim(), args[2] % x.dim()) if len(args) > 2 else (0, 1)
    mapping = {d: d for d in range(x.dim())}
    mapping[a], mapping[b] = b, a
    return _remap(s, mapping)


def _unsqueeze(args, kwargs, out, x, s, states, tensors):
    d = args[1] % out.dim()
    return _remap(s, {old: old + (old >= d) for old in range(x.dim())})


def _select(args, kwargs, out, x, s, states, tensors):
    d = args[1] % x.dim()
    if isinstance(s, Field) and d in s.dims:
        return UNKNOWN
    return _remap(s, {old: old - (old > d) for old in range(x.dim()) if old != d})


def _unbind(args, kwargs, out, x, s, states, tensors):
    d = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % x.dim()
    return _select((args[0], d), kwargs, out, x, s, states, tensors)


def _slice(args, kwargs, out, x, s, states, tensors):
    """Positions start, start + step, …: an offset, and neighbours ``step`` times further apart."""
    d = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % x.dim()
    if not isinstance(s, Field) or d not in s.dims:
        return s
    n = int(x.shape[d])
    start = args[2] if len(args) > 2 and args[2] is not None else kwargs.get("start") or 0
    step = args[4] if len(args) > 4 else kwargs.get("step", 1)
    start = min(max(start + n if start < 0 else start, 0), n)
    if s.dims[0] == s.dims[1]:
        return s if (start, step) == (0, 1) else UNKNOWN   # a slice of merged (H·W) positions
    return _through(s, [windows.shift(start, step) if dim == d else windows.shift(0) for dim in s.dims])


def _split(args, kwargs, out, x, s, states, tensors):
    """Pieces along an image axis start further along it; along other dims each piece keeps the field.
    ``out`` is every piece (see ``_SPLITS``)."""
    d = (args[2] if len(args) > 2 else kwargs.get("dim", 0)) % x.dim()
    pieces = list(out) if isinstance(out, (list, tuple)) else [out]
    if not isinstance(s, Field) or d not in s.dims:
        return [s] * len(pieces)
    if s.dims[0] == s.dims[1]:
        return [UNKNOWN] * len(pieces)
    states, start = [], 0
    for piece in pieces:
        states.append(_through(s, [windows.shift(start) if dim == d else windows.shift(0) for dim in s.dims]))
        start += int(piece.shape[d])
    return states


def _cat(args, kwargs, out, x, s, states, tensors):
    """Concatenation of channels keeps the union of fields. Along an image axis, one map beside
    constants (a class token before the patch tokens) shifts its positions; maps side by side are
    not modelled."""
    dim = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % out.dim()
    fields = [(i, st) for i, st in enumerate(states) if isinstance(st, Field)]
    along = [st for _, st in fields if dim in st.dims]   # cat only takes tensors of one rank
    if not along:
        return combine(states, out.dim(), [t.dim() for t in tensors])
    if len(fields) > 1 or any(st in (GLOBAL, UNKNOWN) for st in states):
        return UNKNOWN
    i, field = fields[0]
    offset = sum(int(t.shape[dim]) for t in tensors[:i])
    if field.dims[0] == field.dims[1]:
        return field   # merged tokens: the constants are extra tokens, the image tokens keep their fields
    return _through(field, [windows.shift(-offset) if d == dim else windows.shift(0) for d in field.dims])


def _stack(args, kwargs, out, x, s, states, tensors):
    """A new dim at ``dim``: the fields move past it, then combine as in concatenation."""
    dim = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % out.dim()
    moved = [_remap(st, {d: d + (d >= dim) for d in range(t.dim())}) for st, t in zip(states, tensors)]
    return combine(moved, out.dim(), [out.dim()] * len(moved))


def _independent(args, kwargs, out, x, s, states, tensors):
    """New tensors shaped like another (``new_zeros``, ``zeros_like``): their values see no pixel."""
    return None


def _matmul(args, kwargs, out, x, s, states, tensors):
    """mm/addmm/bmm/baddbmm: contracting over an image axis sees the whole image."""
    with_bias = len(tensors) == 3
    bias, a, b = tensors if with_bias else (None, *tensors)
    sa, sb = (states[1], states[2]) if with_bias else (states[0], states[1])
    for st, contracted in ((sa, a.dim() - 1), (sb, b.dim() - 2)):
        if isinstance(st, Field) and contracted in st.dims:
            return GLOBAL
    if isinstance(sa, Field) and isinstance(sb, Field):
        return GLOBAL  # token-token products (q·kᵀ): normalised over all keys right after
    keep_a = {d: d for d in range(a.dim() - 1)}                         # batch dims and rows
    keep_b = {**{d: d for d in range(b.dim() - 2)}, b.dim() - 1: out.dim() - 1}  # batch dims and columns
    parts = [_remap(sa, keep_a), _remap(sb, keep_b)]
    ndims = [out.dim(), out.dim()]
    if with_bias:
        parts.append(states[0])
        ndims.append(bias.dim())
    return combine(parts, out.dim(), ndims)


#: Element-wise or copying ops without the ``pointwise`` tag.
_ELEMENTWISE = frozenset("""
    _to_copy copy clone contiguous alias detach lift_fresh lift_fresh_copy native_dropout bernoulli dropout
    masked_fill where fill zero add sub rsub mul div lt gt le ge eq ne fmod remainder hardswish prelu _prelu_kernel
    log_sigmoid_forward rrelu_with_noise
""".split())

_SPLITS = ("split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "chunk")  # rules given every output

_RULES = {
    "convolution": _conv, "_convolution": _conv,
    "max_pool2d_with_indices": _pool(2, 4), "max_pool2d": _pool(2, 4), "avg_pool2d": _pool(2, None),
    "max_pool3d_with_indices": _pool(3, 4), "avg_pool3d": _pool(3, None),
    "_adaptive_avg_pool2d": _adaptive, "adaptive_max_pool2d": _adaptive,
    "upsample_nearest2d": _resample("nearest"), "_upsample_nearest_exact2d": _resample("nearest-exact"),
    "upsample_bilinear2d": _resample("linear"), "upsample_bicubic2d": _resample("cubic"),
    "_upsample_bilinear2d_aa": _antialiased("linear"), "_upsample_bicubic2d_aa": _antialiased("cubic"),
    "pixel_shuffle": _pixel_shuffle, "pixel_unshuffle": _pixel_unshuffle,
    **dict.fromkeys(["constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
                     "replication_pad2d", "replication_pad3d"], _pad),
    **dict.fromkeys(["mean", "sum", "amax", "amin", "var", "std", "max", "min", "var_mean", "std_mean", "logsumexp",
                     "argmax", "argmin", "prod", "any", "all"], _reduce()),
    "linalg_vector_norm": _reduce(2), "norm": _reduce(2),
    "_softmax": _softmax, "_safe_softmax": _softmax, "_log_softmax": _softmax,
    "native_layer_norm": _statistics(lambda args, x: set(range(x.dim() - len(args[1]), x.dim()))),
    "native_group_norm": _statistics(lambda args, x: set(range(2, x.dim()))),
    "native_batch_norm": _first, "_native_batch_norm_legit_no_training": _first, "_native_batch_norm_legit": _first,
    "view": _view, "_unsafe_view": _view, "reshape": _view, "_reshape_alias": _view, "flatten": _view,
    "squeeze": _view, "unflatten": _view, "expand": _expand,
    "permute": _permute, "transpose": _transpose, "t": _transpose,
    "unsqueeze": _unsqueeze, "select": _select, "slice": _slice, "cat": _cat, "stack": _stack, "unbind": _unbind,
    **dict.fromkeys(_SPLITS, _split),
    "roll": _along(2, keyword="dims"), "flip": _along(1, keyword="dims"), "cumsum": _along(1), "cumprod": _along(1),
    "sort": _along(1, -1), "topk": _along(2, -1), "gather": _along(1), "index_select": _along(1),
    "unfold": _along(1), "scatter": _along(1), "scatter_add": _along(1), "glu": _along(1, -1),
    **dict.fromkeys(["new_zeros", "new_ones", "new_empty", "new_full", "zeros_like", "ones_like", "empty_like",
                     "full_like", "rand_like", "randn_like", "empty_strided", "scalar_tensor"], _independent),
    "mm": _matmul, "addmm": _matmul, "bmm": _matmul, "baddbmm": _matmul,
}
