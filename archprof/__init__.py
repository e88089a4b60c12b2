"""archprof: architectures as YAML specs, compiled to PyTorch, analysed and checked against their papers.

The top level imports nothing heavy; torch is loaded only when a model is built.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from archprof.errors import ArchprofError, SpecError
from archprof.spec import Spec, load_spec, zoo_names

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ArchprofError", "Spec", "SpecError", "build", "load_spec", "resolve", "zoo_names"]
__version__ = "0.1.0"


def resolve(spec: "Spec | str", input_shape: tuple[int, ...] | None = None):
    """The checked, unrolled plan of a spec (a :class:`archprof.spec.plan.Plan`), without torch."""
    from archprof.spec.plan import resolve as _resolve

    return _resolve(spec if isinstance(spec, Spec) else load_spec(spec), input_shape)


def build(spec: "Spec | str", *, device: str | None = None, input_shape: tuple[int, ...] | None = None) -> "nn.Module":
    """Compile a spec (object, path or bundled name) into an ``nn.Module`` on ``device``.

    ``device='meta'`` builds the model without allocating its weights.
    """
    from archprof.spec.compiler import compile_plan

    return compile_plan(resolve(spec, input_shape), device)
