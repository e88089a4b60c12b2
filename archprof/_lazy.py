"""Deferred imports, so that `archprof --help`, spec validation and torch-free modules never import torch."""
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
modules = LazyModule("archprof.spec.modules")


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


def lazy_exports(package: str, exports: dict[str, str]):
    """A PEP 562 ``__getattr__`` and ``__dir__`` for a package whose names live in submodules that
    import torch: ``exports`` maps each name to its submodule, imported on first use, so that the
    package's torch-free modules can be imported without torch."""

    def getattr_(name: str):
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(exports)

    return getattr_, dir_
