"""Run torch's Python meta kernels without the imports they only need for ``torch.compile``.

On the meta device many ops (relu, addmm, cat, batch norm, convolution, ...) run Python kernels
that pay, on their first call, for machinery an analysis never uses:

- references wrapped in ``torch._disable_dynamo`` import ``torch._dynamo`` (about a second) to
  build a guard that does nothing outside ``torch.compile``, and cache it on the wrapped function
  as ``__dynamo_disable``;
- ``torch._check`` and the shape checks of many kernels import
  ``torch.fx.experimental.symbolic_shapes`` and with it sympy (over half a second) for guards
  that, with concrete shapes, are plain bools and ints.

While :func:`plain_meta_kernels` is active each guard cache holds the plain function, and
``symbolic_shapes`` is a stand-in that answers its guards for plain bools and ints exactly as
torch does and hands anything else (a ``SymInt``, any other name) to the real module, importing
it then; so is ``sympy``, which kernels import for one ``isinstance`` check. On exit all of it
is put back, so the rest of the process is unchanged. Together they cost
more than the whole analysis of most models; no library avoids them, hence the lines here.

:func:`flop_counter` imports ``torch.utils.flop_counter`` (the formula table) without triton,
which it imports (a tenth of a second) only to recognise triton kernels.
"""
from __future__ import annotations

import functools
import gc
import importlib
import logging
import operator
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

_CACHE = "__dynamo_disable"
_FLOP_COUNTER = "torch.utils.flop_counter"
_SHAPES = "torch.fx.experimental.symbolic_shapes"


@functools.lru_cache(maxsize=1)
def _guarded_functions() -> tuple:
    """Every function torch wrapped in ``_disable_dynamo`` (they are made at import time)."""
    import torch._compile

    inner = [c for c in torch._compile._disable_dynamo.__code__.co_consts
             if getattr(c, "co_name", None) == "inner" and "fn" in getattr(c, "co_freevars", ())]
    if len(inner) != 1:  # torch changed the wrapper: fall back to its own behaviour
        return ()
    code = inner[0]
    slot = code.co_freevars.index("fn")
    return tuple(f.__closure__[slot].cell_contents for f in gc.get_referrers(code)
                 if getattr(f, "__code__", None) is code and f.__closure__)


@contextmanager
def _plain_guards() -> Iterator[None]:
    if "torch._dynamo" in sys.modules:  # already paid for: nothing to save
        yield
        return
    filled = []
    for fn in _guarded_functions():
        if getattr(fn, _CACHE, None) is None:
            try:
                setattr(fn, _CACHE, fn)
            except (AttributeError, TypeError):
                continue
            filled.append(fn)
    try:
        yield
    finally:
        for fn in filled:
            if getattr(fn, _CACHE, None) is fn:
                delattr(fn, _CACHE)


def _real(name: str) -> types.ModuleType:
    """The real module; the stand-ins leave ``sys.modules`` for good once one is needed (the real
    ``symbolic_shapes`` imports the real sympy)."""
    for stand_in in (_SHAPES, "sympy"):
        if isinstance(sys.modules.get(stand_in), _StandIn):
            del sys.modules[stand_in]
    return importlib.import_module(name)


def _symbolic_shapes() -> types.ModuleType:
    return _real(_SHAPES)


class _StandIn(types.ModuleType):
    """Hands every name it does not define to the real module."""

    def __getattr__(self, name: str):
        if name.startswith("__"):  # the import system asks for __path__ and the like
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


class _NoSympy(_StandIn):
    """``sympy`` before it is imported. Kernels import it only for ``isinstance(x, sympy.Basic)``,
    and before sympy is imported no object can be a sympy expression: a class without instances
    gives the same answer."""

    class Basic:
        pass


def _concrete(*values) -> bool:
    return all(type(v) in (bool, int) or (isinstance(v, (list, tuple)) and _concrete(*v)) for v in values)


def _plain_or_real(name: str, *plain: type):
    """A guard that returns a plain value (of exactly these types) as it is, as torch's does."""

    def guard(a):
        return a if type(a) in plain else getattr(_symbolic_shapes(), name)(a)

    guard.__name__ = name
    return staticmethod(guard)


class _ConcreteShapes(_StandIn):
    """``symbolic_shapes`` for plain bools and ints: the same answers as torch's functions there."""

    @staticmethod
    def expect_true(a, skip: int = 0):
        return a if type(a) is bool else _symbolic_shapes().expect_true(a, skip + 1)

    guard_or_false = _plain_or_real("guard_or_false", bool)
    guard_or_true = _plain_or_real("guard_or_true", bool)
    guard_size_oblivious = _plain_or_real("guard_size_oblivious", bool)
    statically_known_true = _plain_or_real("statically_known_true", bool)
    guarding_hint_or_throw = _plain_or_real("guarding_hint_or_throw", bool, int)

    @staticmethod
    def has_guarding_hint(a):
        return True if _concrete(a) or type(a) is float else _symbolic_shapes().has_guarding_hint(a)

    @staticmethod
    def is_nested_int(s):
        return False if _concrete(s) or type(s) is float else _symbolic_shapes().is_nested_int(s)

    @staticmethod
    def sym_and(x, *others):
        return functools.reduce(operator.and_, others, x) if _concrete(x, *others) else _symbolic_shapes().sym_and(x, *others)

    @staticmethod
    def sym_or(x, *others):
        return functools.reduce(operator.or_, others, x) if _concrete(x, *others) else _symbolic_shapes().sym_or(x, *others)

    @staticmethod
    def sym_eq(x, y):  # torch's own recursion, with its leaves for plain ints
        if isinstance(x, (tuple, list)) and isinstance(y, (list, tuple)):
            return len(x) == len(y) and functools.reduce(operator.and_, map(_ConcreteShapes.sym_eq, x, y), True)
        if type(x) in (bool, int) and type(y) in (bool, int):
            return x == y
        return _symbolic_shapes().sym_eq(x, y)


@contextmanager
def _stand_ins() -> Iterator[None]:
    import torch.fx.experimental as parent

    placed = {}
    for name, kind in ((_SHAPES, _ConcreteShapes), ("sympy", _NoSympy)):
        if name not in sys.modules:  # already imported: nothing to save
            sys.modules[name] = placed[name] = kind(name)
    if _SHAPES in placed:
        parent.symbolic_shapes = placed[_SHAPES]
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        if getattr(parent, "symbolic_shapes", None) is placed.get(_SHAPES, False):
            delattr(parent, "symbolic_shapes")


@contextmanager
def plain_meta_kernels() -> Iterator[None]:
    with _plain_guards(), _stand_ins():
        yield


class _LazyTritonKernel(type):
    def __instancecheck__(cls, obj) -> bool:
        triton = sys.modules.get("triton.runtime.jit")  # no triton yet: no triton kernel either
        return triton is not None and isinstance(obj, triton.JITFunction)


class _TritonKernel(metaclass=_LazyTritonKernel):
    """``flop_counter``'s name for triton's ``JITFunction``, resolved when it is asked about."""


def flop_counter() -> types.ModuleType:
    """``torch.utils.flop_counter``, imported without importing triton."""
    if _FLOP_COUNTER in sys.modules or "triton" in sys.modules:
        return importlib.import_module(_FLOP_COUNTER)
    log = logging.getLogger(_FLOP_COUNTER)
    was_disabled, log.disabled = log.disabled, True  # its "triton not found" warning would be wrong
    sys.modules["triton"] = None  # makes ``from triton... import`` fail at once
    try:
        module = importlib.import_module(_FLOP_COUNTER)
        module._JITFunction = _TritonKernel
        return module
    except ImportError:  # a torch that needs triton here after all
        pass
    finally:
        del sys.modules["triton"]
        log.disabled = was_disabled
    return importlib.import_module(_FLOP_COUNTER)
