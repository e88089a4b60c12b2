"""Run each meta kernel once per distinct input: later calls with the same tensor metadata get
fresh outputs of the recorded shapes, strides and dtypes.

On the meta device many ops run Python kernels: ``native_layer_norm`` costs 1.5 ms a call,
``addmm`` 0.6 ms, against a few microseconds for the ops around them. Networks repeat their
blocks, so most calls repeat an earlier one exactly (TNT-Ti: 1,700 op calls, nearly all of
them repeats). torch's ``FakeTensorMode`` keeps the same kind of cache, but only for its own
``FakeTensor``s, whose dispatch is heavier than the meta kernels saved; hence this small one.

Only what is safe to replay is memoised: ops whose schema neither aliases nor mutates, whose
output shape does not depend on data, called with plain meta tensors and plain Python values,
whose outputs are fresh tensors that fill their own storage exactly.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_PLAIN = (bool, int, float, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)
_DATA_DEPENDENT = (torch.Tag.dynamic_output_shape, torch.Tag.data_dependent_output)
_NOT_CACHED = object()


class Uncacheable(Exception):
    """An argument or output that cannot be keyed or replayed."""


def _replayable(func) -> bool:
    schema = func._schema
    return (all(a.alias_info is None for a in schema.arguments)
            and all(r.alias_info is None for r in schema.returns)
            and not any(tag in func.tags for tag in _DATA_DEPENDENT))


def _key(value: Any):
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter) or not value.is_meta or value.layout != torch.strided:
            raise Uncacheable
        return (value.shape, value.stride(), value.dtype, value.storage_offset(), value.requires_grad,
                value.is_conj(), value.is_neg())
    if isinstance(value, _PLAIN):
        return type(value), value
    if isinstance(value, (list, tuple)):
        return type(value), tuple(_key(v) for v in value)
    raise Uncacheable  # SymInts, generators, anything else: run the kernel


def _recipe(out: Any, args: tuple, kwargs: dict):
    """How to make outputs like ``out`` again, or raise Uncacheable."""
    single = isinstance(out, torch.Tensor)
    outs = (out,) if single else out
    if not isinstance(outs, (tuple, list)) or not all(isinstance(t, torch.Tensor) for t in outs):
        raise Uncacheable
    inputs = {t.untyped_storage()._cdata for t in tensors_in((args, kwargs))}
    storages = set()
    recipe = []
    for t in outs:
        if type(t) is not torch.Tensor or not t.is_meta or t.layout != torch.strided or t.is_conj() or t.is_neg():
            raise Uncacheable
        storage = t.untyped_storage()
        like = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
        if t.storage_offset() or storage.nbytes() != like.untyped_storage().nbytes() or storage._cdata in inputs | storages:
            raise Uncacheable  # a view, a padded buffer or a shared storage: replaying would change memory accounting
        storages.add(storage._cdata)
        recipe.append((tuple(t.shape), t.stride(), t.dtype))
    return single, type(outs), tuple(recipe)


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in a value, in lists, tuples and dicts as ops take and return them."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


class MetaMemo:
    """``memo(func, args, kwargs)`` is ``func(*args, **kwargs)``, with kernels run once per key."""

    def __init__(self):
        self.replayable: dict[Any, bool] = {}
        self.recipes: dict[tuple, Any] = {}
        self.hits = 0

    def __call__(self, func, args: tuple, kwargs: dict):
        replayable = self.replayable.get(func)
        if replayable is None:
            replayable = self.replayable[func] = _replayable(func)
        if not replayable:
            return func(*args, **kwargs)
        try:
            key = (func, torch.is_grad_enabled(), _key(args), _key(tuple(sorted(kwargs.items()))))
        except Uncacheable:
            return func(*args, **kwargs)
        recipe = self.recipes.get(key)
        if recipe is None:
            out = func(*args, **kwargs)
            try:
                self.recipes[key] = _recipe(out, args, kwargs)
            except Uncacheable:
                self.recipes[key] = _NOT_CACHED
            return out
        if recipe is _NOT_CACHED:
            return func(*args, **kwargs)
        self.hits += 1
        single, container, outs = recipe
        made = [torch.empty_strided(shape, stride, dtype=dtype, device="meta") for shape, stride, dtype in outs]
        return made[0] if single else container(made)


class MemoMode(TorchDispatchMode):
    """Every op run under this mode goes through one :class:`MetaMemo` (size probes: many forward
    passes of the same blocks)."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # never compiled; the default guard imports torch._dynamo (see trace.Tracer)

    def __init__(self):
        super().__init__()
        self.memo = MetaMemo()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return self.memo(func, args, kwargs or {})
