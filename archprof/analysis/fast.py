"""The analysis of a spec without torch: every layer costed from its resolved plan in pure Python.

The resolver already knows every shape; each op's :meth:`~archprof.spec.registry.Op.cost` adds
its parameters, MACs, FLOPs and written activations by the conventions of the traced analysis,
and its effect on the image axes, which the rules below turn into receptive fields with the same
functions the traced pass uses (:mod:`.fields`). The result is an :class:`Analysis` with the same
rows (one per layer of the spec; a composite op such as attention is one row) and totals; what
only a traced pass measures — the inference peak, what autograd saves, the weight and training
memory — is left out (None) and the analysis says so. A spec with an op that has no cost rule
(a plugin's) raises :class:`NoCostRule`; the command line then falls back to the traced path.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from archprof.analysis import fields, windows
from archprof.analysis.constraints import input_constraints
from archprof.analysis.fields import GLOBAL, Field, State
from archprof.analysis.result import Analysis
from archprof.analysis.rows import headline_field, layer_record
from archprof.analysis.sources import Source, open_source
from archprof.errors import ArchprofError
from archprof.spec import costs
from archprof.spec.costs import Step, Tensor
from archprof.spec.plan import Node, propagate
from archprof.spec.registry import ShapeError

ITEM_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
MAX_BATCH = 1 << 20
#: Totals that need a traced pass (tensor lifetimes, autograd, buffers): None in a fast analysis.
TRACED_ONLY = ("peak_activation_bytes", "weight_bytes", "saved_activation_bytes", "train_memory_sgd_bytes",
               "train_memory_adamw_bytes", "train_memory_bytes")


class NoCostRule(ArchprofError):
    """A layer's op has no pure-Python cost rule."""


@dataclass(frozen=True)
class Value:
    tensor: Tensor
    field: State


def analyze_fast(source: Any, *, input_shape: tuple[int, ...] | None = None, batch: int = 1, dtype: str = "fp32") -> Analysis:
    """Analyse a spec (path, bundled name, :class:`~archprof.spec.Spec` or opened source) without torch."""
    if dtype not in ITEM_BYTES:
        raise ArchprofError(f"unknown dtype '{dtype}' (choose from {', '.join(ITEM_BYTES)})")
    if not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ArchprofError(f"batch must be an integer from 1 to {MAX_BATCH}, got {batch!r}")
    src = open_source(source, input_shape) if not isinstance(source, Source) else source
    if src.plan is None:
        raise ArchprofError(f"{src.label}: the analysis without torch (--fast) takes specs only; drop --fast for other sources")
    shape = tuple(input_shape or src.input_shape)
    con = input_constraints(src, input_shape)
    if input_shape is None and con.valid and con.analysed != shape[-1]:
        shape = (*shape[:-2], con.analysed, con.analysed)
    try:
        propagate(src.plan.root, (shape,), memo={})
    except ShapeError as exc:
        raise ArchprofError(f"input {'x'.join(map(str, shape))} does not fit {src.label}: {exc}; it takes {con.describe()}") from None
    records, types = rows_of(src.plan.root, shape, batch, dtype)
    totals = {
        "params": sum(r["params"] for r in records),
        "trainable_params": sum(r["trainable_params"] for r in records),
        "macs": sum(r["macs"] for r in records),
        "flops": sum(r["flops"] for r in records),
        "activation_bytes": sum(r["activation_bytes"] for r in records),
        "input_bytes": batch * _numel(shape) * ITEM_BYTES[dtype],
        **dict.fromkeys(TRACED_ONLY),
        "receptive_field": headline_field(records),
    }
    return Analysis(source=src.label, input_shape=shape, batch=batch, dtype=dtype, records=records, totals=totals,
                    input_constraints=con.as_dict(), module_types=types, method="fast")


def totals_fast(root: Node, shape: tuple[int, ...], batch: int = 1, dtype: str = "fp32") -> dict[str, int]:
    """Params, MACs, FLOPs and activation bytes of a resolved plan at ``shape``: what a sweep needs
    (no rows and no receptive fields, which are most of the work)."""
    walker = _Walker(ITEM_BYTES[dtype], dtype, rows=False)
    walker.node(root, (Value(costs.new((batch, *shape)), None),), "")
    return walker.totals


def rows_of(root: Node, shape: tuple[int, ...], batch: int, dtype: str) -> tuple[list[dict], dict[str, str]]:
    """One record per layer of the plan, in execution order, and the containers' kinds by name."""
    full = (batch, *shape)
    image = fields.image_field(len(full), tuple(full[-2:]) if len(full) >= 2 else None)
    walker = _Walker(ITEM_BYTES[dtype], dtype)
    walker.node(root, (Value(costs.new(full), image),), "")
    return walker.records, walker.types


class _Walker:
    def __init__(self, item_bytes: int, dtype: str, rows: bool = True):
        self.item_bytes, self.dtype, self.rows = item_bytes, dtype, rows
        self.records: list[dict] = []
        self.types: dict[str, str] = {}
        self.totals = dict.fromkeys(("params", "macs", "flops", "activation_bytes"), 0)

    def node(self, node: Node, inputs: tuple, name: str) -> Any:
        if node.op is not None:
            return self.leaf(node, inputs, name)
        if not self.rows:   # totals only: a block seen before on the same inputs costs the same (the resolver shares them)
            key = (id(node.children), self.dtype, tuple((v.tensor.shape, v.tensor.strides) for v in inputs))   # copies share children
            hit = _TOTALS.get(key)
            if hit is None or hit[0] is not node.children:   # the children are kept, so their id is not reused meanwhile
                before = dict(self.totals)
                out = self.container(node, inputs, name)
                if len(_TOTALS) >= MAX_CACHED_TOTALS:
                    _TOTALS.clear()
                _TOTALS[key] = (node.children, {k: self.totals[k] - before[k] for k in self.totals}, out)
                return out
            _, added, out = hit
            for k, v in added.items():
                self.totals[k] += v
            return out
        return self.container(node, inputs, name)

    def container(self, node: Node, inputs: tuple, name: str) -> Any:
        if name:
            self.types[name] = node.block or node.kind
        env = dict(zip(node.input_names, inputs))
        for child in node.children:
            qualified = f"{name}.{child.name}" if name else child.name
            out = self.node(child, tuple(env[r] for r in child.inputs), qualified)
            env[child.name] = out
            if child.outputs:
                env.update(zip(child.outputs, out))
        return env[node.output] if isinstance(node.output, str) else tuple(env[o] for o in node.output)

    def leaf(self, node: Node, inputs: tuple, name: str) -> Any:
        tensors = [replace(v.tensor, dtype=self.dtype) for v in inputs]
        step = _cost(node, tensors, name)
        outs = step.outputs
        written = step.elements * self.item_bytes + step.wide * 4 + step.bools
        if not self.rows:
            for key, value in zip(self.totals, (step.params, step.macs, step.flops, written)):
                self.totals[key] += value
            values = tuple(Value(t, None) for t in outs)
            return values if isinstance(step.out, tuple) else values[0]
        states = _effect(step.effect, [v.field for v in inputs], [t.shape for t in tensors], [t.shape for t in outs])
        states = [fields.with_extent(s, t.shape) for s, t in zip(states, outs)]
        self.records.append(layer_record(
            name, step.type or node.op.module, _shapes(tensors), _shapes(outs), step.params, step.params, step.macs, step.flops,
            written, states[0] if states else None))
        values = tuple(Value(t, s) for t, s in zip(outs, states))
        return values if isinstance(step.out, tuple) else values[0]


MAX_CACHED_TOTALS = 20_000
_TOTALS: dict = {}  # (id of a container's children, dtype, input layouts) -> (children, totals added, output)
MAX_CACHED_COSTS = 100_000
_COSTS: dict = {}   # (id of op, input tensors) -> (op, step); the resolver shares equal ops, across plans too


def _cost(node: Node, tensors: list, name: str) -> Step:
    """``node.op.cost(*tensors)``, a pure function of the op and its inputs, remembered."""
    key = (id(node.op), *tensors)
    hit = _COSTS.get(key)
    if hit is not None and hit[0] is node.op:   # the op itself is kept, so its id is not reused meanwhile
        return hit[1]
    try:
        step = node.op.cost(*tensors)
    except NotImplementedError:
        raise NoCostRule(f"layer '{name}': op '{node.kind}' has no pure-Python cost rule") from None
    if len(_COSTS) >= MAX_CACHED_COSTS:
        _COSTS.clear()
    _COSTS[key] = node.op, step
    return step


def _shapes(tensors) -> tuple | None:
    return tuple(tensors[0].shape) if len(tensors) == 1 else tuple(tuple(t.shape) for t in tensors)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# -- effects on the image axes: one small rule per kind, each returning one state per output ----
Rule = Callable[[Any, list, list, list], list]


def _pointwise(e, states, shapes, outs):
    return [fields.elementwise(states, shapes, outs[0])]


def _window(e: costs.Window, states, shapes, outs):
    s, ndim = states[0], len(shapes[0])
    if e.channels_last:   # (N, H, W, C): the image axes are the two dims before the last
        if not (isinstance(s, Field) and tuple(s.dims) == (ndim - 3, ndim - 2)):
            return [fields.passthrough(s)]
        return [fields.through(s, [windows.window(k, st, d, p) for k, st, d, p in zip(e.kernel, e.stride, e.dilation, e.padding)])]
    return [fields.windowed(s, ndim, 2, lambda i: windows.window(e.kernel[i], e.stride[i], e.dilation[i], e.padding[i]))]


def _adaptive(e, states, shapes, outs):
    return [fields.adapted(states[0], shapes[0], outs[0])]


def _resample(e: costs.Resample, states, shapes, outs):
    return [fields.resampled(states[0], shapes[0], outs[0], e.mode, e.align_corners)]


def _shift(e: costs.Shift, states, shapes, outs):
    return [fields.padded(states[0], len(shapes[0]), [e.left, 0, e.top, 0])]


def _reshape(e, states, shapes, outs):
    return [fields.reshaped(states[0], shapes[0], outs[0])]


def _permute(e: costs.Permute, states, shapes, outs):
    return [fields.permuted(states[0], list(e.order))]


def _pieces(e: costs.Pieces, states, shapes, outs):
    if len(e.sizes) == 1:
        return [fields.sliced(states[0], shapes[0], e.dim, e.start, e.step)]
    return fields.split(states[0], e.dim, list(e.sizes))


def _select(e: costs.Select, states, shapes, outs):
    return [fields.selected(states[0], len(shapes[0]), e.dim)]


def _concat(e: costs.Concat, states, shapes, outs):
    if e.before:   # constants first: the same rule as for a concatenation with a tensor that sees no pixel
        first = shapes[0]
        states, shapes = [None, *states], [(*first[:e.dim], e.before, *first[e.dim + 1:]), *shapes]
    return [fields.concatenated(states, shapes, outs[0], e.dim)]


def _last(e: costs.Last, states, shapes, outs):
    """A linear map over an image axis sees all of it; statistics over one add global context."""
    s, last = states[0], len(shapes[0]) - 1
    if isinstance(s, Field) and last in s.dims:
        return [GLOBAL if e.mixes else Field(s.dims, s.axes, s.extent, True)]
    return [s]


def _merge(e, states, shapes, outs):
    return [GLOBAL if isinstance(states[0], Field) else states[0]]


def _untracked(e, states, shapes, outs):
    return [fields.passthrough(fields.combine(states, len(outs[0]), [len(t) for t in shapes]))]


RULES: dict[type, Rule] = {
    costs.Pointwise: _pointwise, costs.Window: _window, costs.Adaptive: _adaptive, costs.Resample: _resample,
    costs.Shift: _shift, costs.Reshape: _reshape, costs.Permute: _permute, costs.Pieces: _pieces, costs.Select: _select,
    costs.Concat: _concat, costs.Last: _last, costs.Merge: _merge, costs.Untracked: _untracked,
}


def _effect(effect, states: list, shapes: list, outs: list) -> list:
    return RULES[type(effect)](effect, states, shapes, outs)
