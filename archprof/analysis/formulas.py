"""The per-op cost table: multiply-accumulates and FLOPs of every aten op, keyed by op name.

Conventions (also in the README):

* ``macs`` are the multiply-accumulates of convolution, matrix products and attention — what
  papers call "FLOPs". They come from ``torch.utils.flop_counter``'s formulas (divided by 2),
  so ``macs`` equals ``FlopCounterMode`` total / 2 on the same trace.
* ``flops`` = 2·MACs + the element-wise work below, counted per output element unless noted:
  bias adds of conv/linear (1), activations, normalisation, pooling, residual adds, softmax.
* Data movement (views, permutes, concatenation, copies, padding, nearest upsampling) and new
  tensors cost nothing (:data:`FREE_GROUPS`).
* Products that ``FlopCounterMode`` has no formula for (:data:`PRODUCTS`: ``mv``, ``dot``,
  ``addmv``, ``addbmm``, ``addr``, ``nn.Bilinear``'s ``_trilinear``) are counted here.
* Any other op is *uncounted*: it is listed in the analysis, never silently zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from archprof.analysis.fast_meta import flop_counter

flop_registry = flop_counter().flop_registry


@dataclass(frozen=True)
class Cost:
    macs: int = 0
    flops: int = 0


def _numel(t: Any) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


def _first_tensor(args: tuple) -> torch.Tensor | None:
    return next((a for a in args if isinstance(a, torch.Tensor)), None)


#: FLOPs per output element of element-wise ops (transcendentals count as one FLOP each step).
PER_OUTPUT = {
    **dict.fromkeys(["add", "sub", "mul", "div", "rsub", "neg", "abs", "reciprocal", "sqrt", "rsqrt", "exp",
                     "log", "pow", "clamp", "clamp_min", "clamp_max", "minimum", "maximum", "where", "erf", "sign",
                     "relu", "hardtanh", "threshold", "leaky_relu", "lt", "gt", "le", "ge", "eq", "ne", "floor",
                     "bitwise_not", "logical_not", "masked_fill", "addcmul", "lerp", "square"], 1),
    "sigmoid": 4,           # neg, exp, add, div
    "silu": 5,              # sigmoid + mul
    "tanh": 5,
    "gelu": 8,              # 0.5·x·(1 + erf(x/√2)): div, erf, add, mul, mul (+ erf ≈ 3)
    "hardswish": 4,         # add, clamp, mul, div
    "hardsigmoid": 3,       # add, clamp, div
    "native_batch_norm": 2,  # inference: folded per-channel scale and shift
    "_native_batch_norm_legit_no_training": 2,
    "_native_batch_norm_legit": 2,
    "native_layer_norm": 7,  # mean, subtract, variance, rsqrt·x, scale, shift (≈ 5 + 2)
    "native_group_norm": 7,
    "_softmax": 5,          # max, subtract, exp, sum, divide
    "_safe_softmax": 5,
    "_log_softmax": 5,
    "bernoulli": 1,
    "native_dropout": 2,
    "upsample_bilinear2d": 7,   # 4 taps: 4 multiplies, 3 adds
    "_upsample_bilinear2d_aa": 7,
    "upsample_bicubic2d": 31,   # 16 taps: 16 multiplies, 15 adds
    "_upsample_bicubic2d_aa": 31,
}

#: FLOPs per *input* element of reductions.
PER_INPUT = dict.fromkeys(["mean", "sum", "amax", "amin", "var", "std", "_adaptive_avg_pool2d", "adaptive_max_pool2d",
                           "norm", "linalg_vector_norm", "max", "min", "argmax", "argmin", "logsumexp", "nonzero"], 1)

#: Ops that only move data or make new tensors: no arithmetic, so no FLOPs. The groups are the
#: README's "Units and conventions" row; tests check every op of the first six on real tensors:
#: each output value is an input value or a fill constant.
FREE_GROUPS = {
    "views": """view _unsafe_view reshape _reshape_alias expand expand_as unsqueeze squeeze flatten unflatten select
        slice split split_with_sizes unsafe_split unsafe_split_with_sizes chunk unbind narrow diagonal alias detach
        as_strided view_as unfold t""",
    "permutes": "permute transpose movedim flip roll",
    "concatenation": "cat stack repeat tile",
    "copies": """clone contiguous copy _to_copy to lift_fresh lift_fresh_copy index index_select gather _unsafe_index
        masked_select slice_scatter select_scatter im2col""",
    "padding": "constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d replication_pad3d",
    "nearest upsampling": "upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact2d",
    "new tensors": """empty empty_like empty_strided new_empty zeros zeros_like new_zeros ones ones_like new_ones full
        full_like new_full fill zero arange scalar_tensor _local_scalar_dense resize set rand randn rand_like randn_like
        uniform normal""",
}
FREE = frozenset(name for names in FREE_GROUPS.values() for name in names.split())


def _products(shape) -> int:
    return math.prod(int(s) for s in shape)


def _mv(args: tuple, kwargs: dict, out: Any) -> Cost:
    """mv(A[m, n], x[n]): m·n MACs; addmv(b, A, x) adds the bias (m)."""
    with_bias = len(args) > 2 and isinstance(args[2], torch.Tensor)
    macs = _numel(args[1] if with_bias else args[0])
    return Cost(macs, 2 * macs + (_numel(out) if with_bias else 0))


def _dot(args: tuple, kwargs: dict, out: Any) -> Cost:
    """dot(a[n], b[n]), vdot: n MACs."""
    return Cost(_numel(args[0]), 2 * _numel(args[0]))


def _addbmm(args: tuple, kwargs: dict, out: Any) -> Cost:
    """addbmm(b[m, p], A[k, m, n], B[k, n, p]): k·m·n·p MACs (the sum over k accumulates), plus the bias add."""
    (k, m, n), p = args[1].shape, args[2].shape[-1]
    macs = k * m * n * p
    return Cost(macs, 2 * macs + _numel(out))


def _addr(args: tuple, kwargs: dict, out: Any) -> Cost:
    """addr(b[m, n], u[m], v[n]): an outer product added to b, m·n MACs."""
    return Cost(_numel(out), 2 * _numel(out))


def _trilinear(args: tuple, kwargs: dict, out: Any) -> Cost:
    """_trilinear(x1, A, x2, expand1, expand2, expand3, sumdim) of ``nn.Bilinear``: each term x1·A·x2 of
    the broadcast product is one MAC (B·O·I·J, as fvcore counts it) and three FLOPs (two multiplies, an add)."""
    shapes = []
    for tensor, expand in zip(args[:3], args[3:6]):
        shape = list(tensor.shape)
        for d in sorted(expand):
            shape.insert(d, 1)
        shapes.append(shape)
    terms = _products(max(sizes) for sizes in zip(*shapes))
    return Cost(terms, 3 * terms)


def _slices(x: torch.Tensor, dim: int) -> tuple[int, int]:
    n = int(x.shape[dim]) if x.dim() else 1
    return n, (x.numel() // n if n else 0)


def _sort(args: tuple, kwargs: dict, out: Any) -> Cost:
    """sort along a dim of n: n·⌈log2 n⌉ comparisons per slice (a comparison sort)."""
    dim = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("dim", -1)
    n, slices = _slices(args[0], dim)
    return Cost(0, slices * n * max(1, math.ceil(math.log2(n))) if n > 1 else 0)


def _topk(args: tuple, kwargs: dict, out: Any) -> Cost:
    """topk(x, k) along a dim of n: n·⌈log2 k⌉ comparisons per slice (a heap of k), at least n."""
    k = int(args[1])
    dim = args[2] if len(args) > 2 else kwargs.get("dim", -1)
    n, slices = _slices(args[0], dim)
    return Cost(0, slices * n * max(1, math.ceil(math.log2(k))) if k > 1 else slices * n)


def _col2im(args: tuple, kwargs: dict, out: Any) -> Cost:
    """col2im (``F.fold``): every column element is added into the image, one FLOP each."""
    return Cost(0, _numel(args[0]))


#: Products ``torch.utils.flop_counter`` has no formula for: archprof counts them, FlopCounterMode does not.
PRODUCTS = {"mv": _mv, "addmv": _mv, "dot": _dot, "vdot": _dot, "addbmm": _addbmm, "addr": _addr, "_trilinear": _trilinear}


def _pool_window(args: tuple) -> int:
    kernel = args[1]
    return math.prod(kernel) if isinstance(kernel, (list, tuple)) else kernel * kernel


def _mac_cost(name: str, formula: Callable) -> Callable:
    has_bias_arg = {"convolution": 2, "_convolution": 2, "addmm": 0, "baddbmm": 0}.get(name)

    def cost(args: tuple, kwargs: dict, out: Any) -> Cost:
        macs = int(formula(*args, out_val=out, **kwargs)) // 2
        bias = 0
        if has_bias_arg is not None and len(args) > has_bias_arg and isinstance(args[has_bias_arg], torch.Tensor):
            bias = _numel(out)
        return Cost(macs, 2 * macs + bias)

    return cost


def _elementwise(per_output: int) -> Callable:
    return lambda args, kwargs, out: Cost(0, per_output * _numel(out[0] if isinstance(out, (tuple, list)) else out))


def _reduction(per_input: int) -> Callable:
    return lambda args, kwargs, out: Cost(0, per_input * _numel(_first_tensor(args)))


def _max_pool(args: tuple, kwargs: dict, out: Any) -> Cost:
    """k·k − 1 comparisons per output element."""
    first = out[0] if isinstance(out, (tuple, list)) else out
    return Cost(0, (_pool_window(args) - 1) * _numel(first))


def _avg_pool(args: tuple, kwargs: dict, out: Any) -> Cost:
    """k·k − 1 additions and one division per output element."""
    return Cost(0, _pool_window(args) * _numel(out))


COSTS: dict[str, Callable[[tuple, dict, Any], Cost]] = {}
for _packet, _formula in flop_registry.items():
    _name = _packet.__name__ if hasattr(_packet, "__name__") else str(_packet)
    COSTS[str(_name).split(".")[-1]] = _mac_cost(str(_name).split(".")[-1], _formula)
for _name, _n in PER_OUTPUT.items():
    COSTS.setdefault(_name, _elementwise(_n))
for _name, _n in PER_INPUT.items():
    COSTS.setdefault(_name, _reduction(_n))
for _name in ("max_pool2d_with_indices", "max_pool2d", "max_pool1d", "max_pool3d_with_indices"):
    COSTS[_name] = _max_pool
for _name in ("avg_pool2d", "avg_pool1d", "avg_pool3d"):
    COSTS[_name] = _avg_pool
for _name, _cost in {**PRODUCTS, "sort": _sort, "topk": _topk, "col2im": _col2im}.items():
    COSTS.setdefault(_name, _cost)


def op_name(func: Any) -> str:
    """``aten.relu_.default`` -> ``relu_``; in-place variants keep their underscore."""
    return func.overloadpacket.__name__


def cost_of(name: str, args: tuple, kwargs: dict, out: Any) -> Cost | None:
    """The op's cost, or None when no formula is known (an *uncounted* op)."""
    base = name[:-1] if name.endswith("_") and not name.startswith("_") else name
    if base in FREE or name in FREE:
        return Cost()
    formula = COSTS.get(name) or COSTS.get(base)
    return formula(args, kwargs, out) if formula else None
