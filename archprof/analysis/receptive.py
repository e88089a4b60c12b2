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

from dataclasses import replace
from typing import Any

import torch

from archprof.analysis import fields, windows
from archprof.analysis.fields import (GLOBAL, UNKNOWN, Field, State, combine, dims_in, on_image, passthrough,
                                      remap, spatial_arg, through)


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
            return [fields.with_extent(st, tuple(t.shape)) for st, t in zip(state, out)]
    elif torch.Tag.pointwise in func.tags or base in _ELEMENTWISE:
        state = fields.elementwise(states, [tuple(t.shape) for t in tensors], tuple(first.shape))
    else:
        state = GLOBAL if all(st in (None, GLOBAL) for st in states) else UNKNOWN  # not modelled: never a guess
    return fields.with_extent(state, tuple(first.shape))


# -- rules: (args, kwargs, out, x, s, states, tensors) -> State ---------------------------------
def _conv(args, kwargs, out, x, s, states, tensors):
    """aten.convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups)."""
    weight = args[1]
    make = windows.transposed if len(args) > 6 and args[6] else windows.window
    return fields.windowed(s, x.dim(), weight.dim() - 2, lambda i: make(int(weight.shape[2 + i]), spatial_arg(args[3], i, 1),
                                                                        spatial_arg(args[5], i, 1), spatial_arg(args[4], i, 0)))


def _pool(spatial: int, dilation_at: int | None):
    """max_pool(x, kernel, stride, padding, dilation, ceil) / avg_pool(x, kernel, stride, padding, ceil, …)."""
    def rule(args, kwargs, out, x, s, states, tensors):
        kernel = args[1]
        stride = args[2] if len(args) > 2 and args[2] else kernel
        padding = args[3] if len(args) > 3 else 0
        dilation = args[dilation_at] if dilation_at is not None and len(args) > dilation_at else 1
        return fields.windowed(s, x.dim(), spatial, lambda i: windows.window(spatial_arg(kernel, i, 1), spatial_arg(stride, i, 1),
                                                                           spatial_arg(dilation, i, 1), spatial_arg(padding, i, 0)))

    return rule


def _adaptive(args, kwargs, out, x, s, states, tensors):
    return fields.adapted(s, tuple(x.shape), tuple(out.shape))


def _resample(mode: str):
    def rule(args, kwargs, out, x, s, states, tensors):
        align = bool(args[2]) if mode in ("linear", "cubic") and len(args) > 2 and isinstance(args[2], bool) else False
        return fields.resampled(s, tuple(x.shape), tuple(out.shape), mode, align)

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
    if not on_image(s, x.dim(), 2):
        return passthrough(s)
    r = int(args[1])
    return through(s, [windows.resample(int(x.shape[d]), int(x.shape[d]) * r, "nearest") for d in s.dims])


def _pixel_unshuffle(args, kwargs, out, x, s, states, tensors):
    """Space to channels: one position gathers r x r input positions."""
    if not on_image(s, x.dim(), 2):
        return passthrough(s)
    r = int(args[1])
    return through(s, [windows.window(r, r) for _ in s.dims])


def _pad(args, kwargs, out, x, s, states, tensors):
    return fields.padded(s, x.dim(), list(args[1]))


def _along(at: int, default: Any = None, keyword: str = "dim"):
    """Ops that reorder or mix positions along the dims at ``args[at]``: unknown when those are image
    axes, untouched otherwise (sorting channels, gathering classes)."""
    def rule(args, kwargs, out, x, s, states, tensors):
        dim = args[at] if len(args) > at else kwargs.get(keyword, default)
        if isinstance(s, Field) and (dim is None or dim == [] or dims_in(dim, x.dim()) & set(s.dims)):
            return UNKNOWN
        return s

    return rule


def _reduce(at: int = 1):
    """Reductions over the dims at ``args[at]`` (all dims when none): over an image axis, global."""
    def rule(args, kwargs, out, x, s, states, tensors):
        if not isinstance(s, Field):
            return s
        dim = args[at] if len(args) > at else kwargs.get("dim")
        dims = set(range(x.dim())) if dim is None or dim == [] else dims_in(dim, x.dim())
        if dims & set(s.dims):
            return GLOBAL
        keepdim = out.dim() == x.dim()
        mapping = {d: (d if keepdim else d - sum(r < d for r in dims)) for d in range(x.dim()) if d not in dims}
        return remap(s, mapping)

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
    return fields.reshaped(s, tuple(x.shape), tuple(out.shape))


def _expand(args, kwargs, out, x, s, states, tensors):
    return remap(s, {d: d + out.dim() - x.dim() for d in range(x.dim())})


def _permute(args, kwargs, out, x, s, states, tensors):
    return fields.permuted(s, [d % x.dim() for d in args[1]])


def _transpose(args, kwargs, out, x, s, states, tensors):
    a, b = (args[1] % x.dim(), args[2] % x.dim()) if len(args) > 2 else (0, 1)
    mapping = {d: d for d in range(x.dim())}
    mapping[a], mapping[b] = b, a
    return remap(s, mapping)


def _unsqueeze(args, kwargs, out, x, s, states, tensors):
    d = args[1] % out.dim()
    return remap(s, {old: old + (old >= d) for old in range(x.dim())})


def _select(args, kwargs, out, x, s, states, tensors):
    return fields.selected(s, x.dim(), args[1] % x.dim())


def _unbind(args, kwargs, out, x, s, states, tensors):
    d = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % x.dim()
    return _select((args[0], d), kwargs, out, x, s, states, tensors)


def _slice(args, kwargs, out, x, s, states, tensors):
    d = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % x.dim()
    start = args[2] if len(args) > 2 and args[2] is not None else kwargs.get("start") or 0
    step = args[4] if len(args) > 4 else kwargs.get("step", 1)
    return fields.sliced(s, tuple(x.shape), d, start, step)


def _split(args, kwargs, out, x, s, states, tensors):
    """``out`` is every piece (see ``_SPLITS``)."""
    d = (args[2] if len(args) > 2 else kwargs.get("dim", 0)) % x.dim()
    pieces = list(out) if isinstance(out, (list, tuple)) else [out]
    return fields.split(s, d, [int(piece.shape[d]) for piece in pieces])


def _cat(args, kwargs, out, x, s, states, tensors):
    dim = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % out.dim()
    return fields.concatenated(states, [tuple(t.shape) for t in tensors], tuple(out.shape), dim)


def _stack(args, kwargs, out, x, s, states, tensors):
    """A new dim at ``dim``: the fields move past it, then combine as in concatenation."""
    dim = (args[1] if len(args) > 1 else kwargs.get("dim", 0)) % out.dim()
    moved = [remap(st, {d: d + (d >= dim) for d in range(t.dim())}) for st, t in zip(states, tensors)]
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
    parts = [remap(sa, keep_a), remap(sb, keep_b)]
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
