"""Deferred imports, so that `archprof --help` and spec validation never import torch."""
from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule(ModuleType):
    def __init__(self, name: str):
        super().__init__(name)
        self._real: ModuleType | None = None

    def __getattr__(self, attr: str):
        if attr == "_real":
            raise AttributeError(attr)
        if self._real is None:
            self._real = importlib.import_module(self.__name__)
        return getattr(self._real, attr)


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
modules = LazyModule("archprof.modules")


def deferred_definitions(namespace: dict, names: tuple[str, ...]):
    """``_module(name)`` and a PEP 562 ``__getattr__`` for an op module whose torch classes are
    defined by its ``_define()`` on first use, so importing the op registry never imports torch."""

    def module(name: str):
        namespace["_define"]()
        return namespace[name]

    def getattr_(name: str):
        if name in names:
            return module(name)
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    return module, getattr_
