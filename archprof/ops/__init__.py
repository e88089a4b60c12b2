"""The bundled ops of the spec language: each module of this package registers its ops on import.

A new op is a decorated class in one of these modules (or a new module here): its arguments, its
shape rule and its ``build`` (see :mod:`archprof.spec.registry`).
"""
from __future__ import annotations

import importlib
import pkgutil

from archprof.spec.registry import OPS, Op

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def load() -> dict[str, type[Op]]:
    """Every registered op by name (importing this package has registered the bundled ones)."""
    return OPS
