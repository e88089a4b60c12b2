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
