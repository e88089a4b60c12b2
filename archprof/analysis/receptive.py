"""Receptive fields through any dataflow graph, tracked tensor by tensor at the aten level.

Peers compute receptive fields for straight chains of conv/pool modules. Here every tensor of the
traced forward carries a :class:`Field` — for each image axis (H, W): the tensor dimension that
indexes it, the receptive-field size and the jump (distance in input pixels between adjacent
positions). Ops combine the fields of their inputs, so branches (Inception, residual shortcuts)
give the maximum over all paths. ``GLOBAL`` means every output sees the whole input (global
pooling, a linear layer over flattened positions, attention over all tokens, an SE gate);
``UNKNOWN`` means an op reshaped the image axes in a way this module does not model (windowed
attention, for instance) — reported as such rather than guessed. A global value broadcast over the
image axes into an element-wise op (a squeeze-and-excitation gate scaling the feature map) does not
make the map global: the field stays that of the convolutional path and is marked ``gated``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Union

import torch


@dataclass(frozen=True)
class Field:
    dims: tuple[int, int]      # tensor dims of the H and W axes (equal once merged into tokens)
    size: tuple[int, int]      # receptive-field size in input pixels
    jump: tuple[int, int]      # input pixels between neighbouring positions
    extent: tuple[int, int] | None = None  # positions along H and W, to find them again after a merge
    gated: bool = False        # a global gate (squeeze-and-excitation) scaled this path: global context on top


GLOBAL = "global"
UNKNOWN = "unknown"
State = Union[Field, str, None]  # None: the tensor does not depend on the image (weights, constants)


def image_field(ndim: int, extent: tuple[int, int] | None = None) -> Field:
    """The model input: each pixel sees itself; H and W are the last two dims."""
    return Field((ndim - 2, ndim - 1), (1, 1), (1, 1), extent)


def _dims(dim: Any, ndim: int) -> set[int]:
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return {d % ndim for d in dims if isinstance(d, int)} if ndim else set()


def _window(field: Field, kernel, stride, dilation) -> Field:
    k, s, d = (_pair(v) for v in (kernel, stride or kernel, dilation))
    size = tuple(field.size[a] + (k[a] - 1) * d[a] * field.jump[a] for a in range(2))
    jump = tuple(field.jump[a] * s[a] for a in range(2))
    return Field(field.dims, size, jump, gated=field.gated)


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if v else (1, 1)
    return (int(v), int(v))


def combine(states: list[State], out_ndim: int, in_ndims: list[int], gates: list[bool] | None = None) -> State:
    """Element-wise ops: the max over inputs, dims aligned by broadcasting from the right.

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
    size, jump = list(first.size), list(first.jump)
    for f, n in fields[1:]:
        if tuple(d + out_ndim - n for d in f.dims) != dims:
            return UNKNOWN
        size = [max(a, b) for a, b in zip(size, f.size)]
        jump = [max(a, b) for a, b in zip(jump, f.jump)]
    return Field(dims, tuple(size), tuple(jump), first.extent, gated or any(f.gated for f, _ in fields))


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


def propagate(name: str, args: tuple, kwargs: dict, out: Any, state_of) -> State:
    """The field of ``out`` from the fields of the tensor arguments (``state_of(tensor)``)."""
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
    base = name.rstrip("_") if not name.startswith("_") else name
    rule = _RULES.get(base)
    if rule is not None:
        state = rule(args, kwargs, first, x, s, states, tensors)
    elif first.dim() >= max(t.dim() for t in tensors) and all(_broadcastable(t.shape, first.shape) for t in tensors):
        state = combine(states, first.dim(), [t.dim() for t in tensors], _gates(states, tensors, first))
    else:
        state = GLOBAL if all(st in (None, GLOBAL) for st in states) else UNKNOWN
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


def _conv(args, kwargs, out, x, s, states, tensors):
    if not isinstance(s, Field) or s.dims != (x.dim() - 2, x.dim() - 1):
        return s if s in (GLOBAL, UNKNOWN) else UNKNOWN
    weight = args[1]
    return _window(s, tuple(weight.shape[2:]), args[3], args[5])


def _pool(args, kwargs, out, x, s, states, tensors):
    if not isinstance(s, Field) or s.dims != (x.dim() - 2, x.dim() - 1):
        return s if s in (GLOBAL, UNKNOWN) else UNKNOWN
    kernel = args[1]
    stride = args[2] if len(args) > 2 and args[2] else kernel
    dilation = args[4] if len(args) > 4 else 1
    if isinstance(dilation, bool):  # avg_pool2d's fifth argument is ceil_mode
        dilation = 1
    return _window(s, kernel, stride, dilation)


def _pool3d(args, kwargs, out, x, s, states, tensors):
    """3-d pooling whose last two dims are the image (LRN pools across channels this way)."""
    if not isinstance(s, Field) or s.dims != (x.dim() - 2, x.dim() - 1):
        return s if s in (GLOBAL, UNKNOWN, None) else UNKNOWN
    kernel = _triple(args[1])
    stride = _triple(args[2]) if len(args) > 2 and args[2] else kernel
    return _window(s, kernel[1:], stride[1:], 1)


def _triple(v: Any) -> tuple[int, int, int]:
    return tuple(v) if isinstance(v, (list, tuple)) and len(v) == 3 else (int(v[0] if isinstance(v, (list, tuple)) else v),) * 3


def _adaptive(args, kwargs, out, x, s, states, tensors):
    if not isinstance(s, Field):
        return s
    h, w = x.shape[-2:]
    oh, ow = out.shape[-2:]
    if (oh, ow) == (1, 1):
        return GLOBAL
    if (oh, ow) == (h, w):
        return s
    kernel = (math.ceil(h / oh) + (h % oh != 0), math.ceil(w / ow) + (w % ow != 0))  # widest adaptive window
    return _window(s, kernel, (max(h // oh, 1), max(w // ow, 1)), 1)


def _reduce(args, kwargs, out, x, s, states, tensors):
    if not isinstance(s, Field):
        return s
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    dims = set(range(x.dim())) if dim is None or dim == [] else _dims(dim, x.dim())
    if dims & set(s.dims):
        return GLOBAL
    keepdim = out.dim() == x.dim()
    mapping = {d: (d if keepdim else d - sum(r < d for r in dims)) for d in range(x.dim()) if d not in dims}
    return _remap(s, mapping)


def _softmax(args, kwargs, out, x, s, states, tensors):
    if isinstance(s, Field) and args[1] % x.dim() in s.dims:
        return GLOBAL
    return s


def _layer_norm(args, kwargs, out, x, s, states, tensors):
    if isinstance(s, Field) and set(s.dims) & set(range(x.dim() - len(args[1]), x.dim())):
        return GLOBAL
    return s


def _first(args, kwargs, out, x, s, states, tensors):
    """Ops whose other tensor arguments are per-channel parameters (batch norm)."""
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


def _unbind(args, kwargs, out, x, s, states, tensors):
    d = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % x.dim()
    return _select((args[0], d), kwargs, out, x, s, states, tensors)


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


def _squeeze(args, kwargs, out, x, s, states, tensors):
    return _view(args, kwargs, out, x, s, states, tensors)


def _select(args, kwargs, out, x, s, states, tensors):
    d = args[1] % x.dim()
    if isinstance(s, Field) and d in s.dims:
        return UNKNOWN
    return _remap(s, {old: old - (old > d) for old in range(x.dim()) if old != d})


def _slice(args, kwargs, out, x, s, states, tensors):
    """Every ``step``-th position of an image axis: neighbours are ``step`` times further apart."""
    d = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % x.dim()
    step = args[4] if len(args) > 4 else kwargs.get("step", 1)
    if not isinstance(s, Field) or d not in s.dims or step == 1:
        return s
    if s.dims[0] == s.dims[1]:
        return UNKNOWN   # a step over merged (H·W) positions
    axis = s.dims.index(d)
    jump = list(s.jump)
    jump[axis] *= step
    return replace(s, jump=tuple(jump))


#: Input positions one output position reads along each axis, by interpolation.
_TAPS = {"upsample_nearest2d": 1, "_upsample_nearest_exact2d": 1, "upsample_bilinear2d": 2, "_upsample_bilinear2d_aa": 2,
         "upsample_bicubic2d": 4, "_upsample_bicubic2d_aa": 4}


def _upsample(name: str):
    def rule(args, kwargs, out, x, s, states, tensors):
        """An integer upscaling divides the jump; interpolation widens the window by its taps."""
        if not isinstance(s, Field) or s.dims != (x.dim() - 2, x.dim() - 1):
            return s if s in (GLOBAL, UNKNOWN, None) else UNKNOWN
        size, jump = list(s.size), list(s.jump)
        for axis in range(2):
            n_in, n_out = x.shape[s.dims[axis]], out.shape[s.dims[axis]]
            if n_out % n_in or jump[axis] % (n_out // n_in):
                return UNKNOWN   # a fractional jump: not modelled
            size[axis] += (_TAPS[name] - 1) * jump[axis]
            jump[axis] //= n_out // n_in
        return replace(s, size=tuple(size), jump=tuple(jump), extent=None)

    return rule


def _cat(args, kwargs, out, x, s, states, tensors):
    return combine(states, out.dim(), [t.dim() for t in tensors])


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


_RULES = {
    "convolution": _conv, "_convolution": _conv,
    "max_pool2d_with_indices": _pool, "max_pool2d": _pool, "avg_pool2d": _pool,
    "avg_pool3d": _pool3d, "max_pool3d_with_indices": _pool3d,
    "_adaptive_avg_pool2d": _adaptive, "adaptive_max_pool2d": _adaptive,
    "mean": _reduce, "sum": _reduce, "amax": _reduce, "amin": _reduce, "var": _reduce, "std": _reduce, "max": _reduce,
    "_softmax": _softmax, "_safe_softmax": _softmax, "_log_softmax": _softmax,
    "native_layer_norm": _layer_norm,
    "constant_pad_nd": _first, "roll": _first, "reflection_pad2d": _first, "replication_pad2d": _first,
    **{name: _upsample(name) for name in _TAPS},
    "native_batch_norm": _first, "_native_batch_norm_legit_no_training": _first, "_native_batch_norm_legit": _first,
    "view": _view, "_unsafe_view": _view, "reshape": _view, "_reshape_alias": _view, "flatten": _view,
    "permute": _permute, "transpose": _transpose, "t": _transpose,
    "unsqueeze": _unsqueeze, "squeeze": _squeeze, "select": _select, "slice": _slice, "cat": _cat,
    "unbind": _unbind, "split": _first, "split_with_sizes": _first, "chunk": _first,
    "mm": _matmul, "addmm": _matmul, "bmm": _matmul, "baddbmm": _matmul,
}
