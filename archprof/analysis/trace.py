"""Trace one forward pass on the meta device and record what every op and module does.

A ``TorchDispatchMode`` sees every aten op with its tensors (shapes only: nothing is computed),
and global module hooks tell which module is running. Each leaf module call becomes a row;
ops that run directly in a container's ``forward`` (``out += identity``) become rows of their
own. For each op we add its cost (:mod:`archprof.analysis.formulas`), propagate receptive fields
(:mod:`archprof.analysis.receptive`) and account tensor storage as it is allocated and freed, which gives
the inference peak from real tensor lifetimes rather than a guess.
"""
from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakTensorKeyDictionary

from archprof.analysis import fields, formulas, receptive
from archprof.analysis.meta_memo import MetaMemo
from archprof.analysis.meta_memo import tensors_in as _tensors

#: Ops that only create a new view of existing data: they never make a row of their own.
VIEWS = frozenset("""view _unsafe_view reshape _reshape_alias permute transpose t expand unsqueeze squeeze
    flatten detach alias select slice as_strided unflatten view_as expand_as narrow movedim split unbind chunk
    split_with_sizes lift_fresh""".split())


@dataclass
class Row:
    name: str
    type: str
    input_shape: tuple | None = None
    output_shape: tuple | None = None
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    flops: int = 0
    activation_bytes: int = 0
    rf: Any = None
    ops: dict = field(default_factory=dict)
    allocated: dict = field(default_factory=dict, repr=False)  # storage -> bytes allocated by this row
    notes: list = field(default_factory=list)
    functional: bool = False  # an op called in a module's forward, not a module of its own


def _shape(value: Any) -> tuple | None:
    tensors = _tensors(value)
    if not tensors:
        return None
    if len(tensors) == 1:
        return tuple(tensors[0].shape)
    return tuple(tuple(t.shape) for t in tensors)


class _Storage:
    """Live bytes of activation storage, by storage identity, with the running peak."""

    def __init__(self, weights: set[int]):
        self.weights = weights  # storages of parameters and buffers: never activations
        self.refs: dict[int, int] = {}
        self.bytes: dict[int, int] = {}
        self.serial: dict[int, int] = {}  # which storage lives at an address: addresses are reused
        self.counter = itertools.count()
        self.live = 0
        self.peak = 0

    def track(self, t: torch.Tensor) -> int:
        """Count ``t``'s storage if it is new; return the bytes newly allocated."""
        key = t.untyped_storage()._cdata
        if key in self.weights:
            return 0
        new = 0
        if key not in self.refs:
            self.refs[key] = 0
            self.serial[key] = next(self.counter)
            self.bytes[key] = new = t.untyped_storage().nbytes()
            self.live += new
            self.peak = max(self.peak, self.live)
        self.refs[key] += 1
        weakref.finalize(t, self._release, key)
        return new

    def identity(self, t: torch.Tensor) -> tuple[int, int] | None:
        """The storage of ``t`` for as long as it lives; None for weights."""
        key = t.untyped_storage()._cdata
        return None if key in self.weights else (key, self.serial.get(key, -1))

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            self.live -= self.bytes.pop(key)
            del self.refs[key]


class Tracer(TorchDispatchMode):
    """Records rows for one forward pass of ``model``; use :func:`trace`."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # This mode is never compiled; the default wraps __torch_dispatch__ in a guard whose first
        # call imports torch._dynamo, which alone costs more than a whole analysis.
        return False

    def __init__(self, model: nn.Module, memo: bool = True):
        super().__init__()
        self.run = MetaMemo() if memo else (lambda func, args, kwargs: func(*args, **kwargs))
        self.names = {}
        self.types: dict[str, str] = {}  # containers by name: their class, or the spec block they compile
        for name, module in model.named_modules(remove_duplicate=False):
            self.names.setdefault(module, name)
            if name and any(True for _ in module.children()):
                self.types[name] = getattr(module, "spec_kind", None) or type(module).__name__
        weights = [*model.parameters(), *model.buffers()]
        self.weight_storages = {w.untyped_storage()._cdata for w in weights}
        self.rows: list[Row] = []
        self.stack: list[tuple[nn.Module, Row | None]] = []
        self.fields = WeakTensorKeyDictionary()
        self.storage = _Storage(self.weight_storages)
        self.seen_params: set[int] = set()
        self.uncounted: dict[str, int] = {}

    # -- module hooks -------------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        row = None
        if not any(True for _ in module.children()):
            row = Row(self.names.get(module, type(module).__name__), type(module).__name__, _shape(args))
            self._own_params(module, row)
            self.rows.append(row)
        self.stack.append((module, row))

    def post_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        _, row = self.stack.pop()
        if row is None:
            leftover = Row(self.names.get(module, ""), f"{type(module).__name__} (own parameters)")
            if self._own_params(module, leftover):
                self.rows.append(leftover)
            return
        row.output_shape = _shape(output)
        outs = _tensors(output)
        row.rf = self.fields.get(outs[0]) if outs else None
        row.activation_bytes = self._output_bytes(row, outs)

    @staticmethod
    def _output_bytes(row: Row, outs: list[torch.Tensor]) -> int:
        """Bytes of the row's outputs that the row itself allocated (not views, not temporaries)."""
        keys = {t.untyped_storage()._cdata for t in outs}
        return sum(row.allocated.get(k, 0) for k in keys)

    def _own_params(self, module: nn.Module, row: Row) -> int:
        count = 0
        for p in module.parameters(recurse=False):
            if id(p) not in self.seen_params:
                self.seen_params.add(id(p))
                row.params += p.numel()
                row.trainable_params += p.numel() if p.requires_grad else 0
                count += 1
        return count

    # -- ops ----------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = self.run(func, args, kwargs)
        name = formulas.op_name(func)
        row, functional = self._row_for(name, args, out)
        cost = formulas.cost_of(name, args, kwargs, out)
        if cost is None:
            self.uncounted[name] = self.uncounted.get(name, 0) + 1
            if row is not None and f"uncounted: {name}" not in row.notes:
                row.notes.append(f"uncounted: {name}")
        elif row is not None:
            row.macs += cost.macs
            row.flops += cost.flops
            row.ops[name] = row.ops.get(name, 0) + 1
        outs = _tensors(out)
        state = receptive.propagate(func, args, kwargs, out, self._field_of)
        states = state if isinstance(state, list) else [state] * len(outs)   # splits: one field per piece
        for t, rf in zip(outs, states):
            if rf is not None:
                self.fields[t] = rf
            new = self.storage.track(t)
            if row is not None and new:
                row.allocated[t.untyped_storage()._cdata] = new
        if functional:
            row.rf = states[0] if states else None
            row.activation_bytes = self._output_bytes(row, _tensors(out)[:1])
        return out

    def _row_for(self, name: str, args: tuple, out: Any) -> tuple[Row | None, bool]:
        """The row an op belongs to, and whether it is a row of its own (a functional op)."""
        if not self.stack:
            return None, False
        module, row = self.stack[-1]
        if row is not None:
            return row, False
        if name in VIEWS:
            return None, False
        row = Row(self.names.get(module, ""), name, _shape(_tensors(args)[:1]), _shape(out), functional=True)
        self._own_params(module, row)
        self.rows.append(row)
        return row, True

    def _field_of(self, t: torch.Tensor):
        return self.fields.get(t)


@dataclass
class Trace:
    rows: list[Row]
    uncounted: dict[str, int]
    peak_activation_bytes: int
    input_bytes: int
    output_shape: tuple | None
    saved_bytes: int  # activations autograd keeps for backward (weights excluded)
    types: dict[str, str] = field(default_factory=dict)  # container modules by name: class or spec block


def trace(model: nn.Module, x: "torch.Tensor | tuple", memo: bool = True, kwargs: dict | None = None) -> Trace:
    """Run ``model(x)`` (``model(*x, **kwargs)`` for a tuple) under the tracer, inputs on the meta device.

    With ``memo`` each meta kernel runs once per distinct input (:mod:`archprof.analysis.meta_memo`).

    Gradients are on, so autograd shows which tensors it would keep for backward; the pack hook
    only notes their sizes and keeps nothing, so every tensor is freed when the forward drops it
    and the inference peak stays that of a forward without autograd.
    """
    tracer = Tracer(model, memo)
    args, kwargs = (x if isinstance(x, tuple) else (x,)), dict(kwargs or {})
    inputs = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    for t in inputs:
        # one input: its last two dims are the image; several: only floating-point N x C x H x W ones are images
        if len(inputs) == 1 or (t.is_floating_point() and t.dim() >= 4):
            tracer.fields[t] = fields.image_field(t.dim(), tuple(t.shape[-2:]) if t.dim() >= 2 else None)
        tracer.storage.track(t)
    saved: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> None:
        identity = tracer.storage.identity(t)
        if identity is not None:
            saved.setdefault(identity, t.untyped_storage().nbytes())

    pre = nn.modules.module.register_module_forward_pre_hook(tracer.pre_hook)
    post = nn.modules.module.register_module_forward_hook(tracer.post_hook)
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, _no_backward), tracer:
            out = model(*(a.requires_grad_(False) if isinstance(a, torch.Tensor) else a for a in args), **kwargs)
    finally:
        pre.remove()
        post.remove()
    return Trace(tracer.rows, dict(tracer.uncounted), tracer.storage.peak, sum(t.numel() * t.element_size() for t in inputs),
                 _shape(out), sum(saved.values()), tracer.types)


def _no_backward(_packed: None) -> torch.Tensor:
    raise RuntimeError("an analysis trace keeps no tensors for backward")
