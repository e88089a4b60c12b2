"""The per-op cost table: multiply-accumulates and FLOPs of every aten op, keyed by op name.

Conventions (also in the README):

* ``macs`` are the multiply-accumulates of convolution, matrix products and attention — what
  papers call "FLOPs". They come from ``torch.utils.flop_counter``'s formulas (divided by 2),
  so ``macs`` equals ``FlopCounterMode`` total / 2 on the same trace.
* ``flops`` = 2·MACs + the element-wise work below, counted per output element unless noted:
  bias adds of conv/linear (1), activations, normalisation, pooling, residual adds, softmax.
* Data movement (views, permutes, concatenation, copies) costs nothing.
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
                           "norm", "linalg_vector_norm", "max", "min", "argmax", "logsumexp"], 1)

#: Data movement and bookkeeping: no arithmetic.
FREE = frozenset("""
    view _unsafe_view reshape _reshape_alias permute transpose t expand unsqueeze squeeze flatten clone contiguous
    cat stack select slice split split_with_sizes chunk unbind detach alias empty empty_like empty_strided zeros
    zeros_like ones ones_like full full_like new_empty new_zeros new_ones copy_ _to_copy to as_strided roll
    constant_pad_nd fill_ zero_ lift_fresh index_select index gather unfold im2col col2im arange lift_fresh_copy
    _local_scalar_dense scalar_tensor repeat tile narrow movedim diagonal flip expand_as view_as unflatten
    slice_scatter select_scatter masked_select nonzero topk sort detach_ resize_ set_ clone_ rand randn rand_like
    randn_like uniform_ normal_ bernoulli_ _unsafe_index reflection_pad2d replication_pad2d upsample_nearest2d
    _upsample_nearest_exact2d
""".split())


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
