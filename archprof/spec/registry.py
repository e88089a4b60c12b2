"""The op registry: one decorated class per op or block type that Python defines.

An op is a pydantic model whose fields are the arguments a spec may give it; it declares how
many inputs it takes, its output-shape rule (pure Python, so specs are validated and shapes
checked without importing torch) and how to build its ``nn.Module``. The resolver and the
compiler look ops up by name and never branch on op names themselves. The bundled ops live in
:mod:`archprof.ops`, which registers them on import.
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _not_a_boolean(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; in a spec that is always a mistake (kernel: true)
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


Number = BeforeValidator(_not_a_boolean)
Shape = tuple[int, ...]
PositiveInt = Annotated[int, Number, Field(gt=0)]
NonNegInt = Annotated[int, Number, Field(ge=0)]
Size2 = Union[PositiveInt, tuple[PositiveInt, PositiveInt]]
Pad2 = Union[NonNegInt, tuple[NonNegInt, NonNegInt]]
Probability = Annotated[float, Number, Field(ge=0.0, le=1.0)]


class ShapeError(ValueError):
    """An op cannot take the shapes it is given (the message says why)."""


class Op(BaseModel):
    """Base of every registered op. Subclasses add fields and implement ``shape``/``build``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    kind: ClassVar[str] = ""
    #: Number of inputs, or None for "one or more" (add, concat, ...).
    inputs: ClassVar[int | None] = 1
    #: True when the built module never holds parameters or buffers: an unnamed layer of such an op
    #: is named after it (``relu``, ``add_2``) rather than its position, which moves no state_dict key.
    stateless: ClassVar[bool] = False
    #: The class of the module it builds, as the analysis table names it (default: the op's class name).
    module: ClassVar[str] = ""

    def shape(self, *x: Shape) -> Shape | tuple[Shape, ...]:
        raise NotImplementedError

    def bound(self, *x: Shape) -> tuple:
        """The parts of the input shapes that the built module is fixed to (e.g. in_channels).

        Input-size analysis runs a built plan at other sizes and requires these to stay equal.
        The default is the whole shape, which is always safe; ops that accept any size say less.
        """
        return x

    def build(self, *x: Shape) -> Any:
        raise NotImplementedError

    def cost(self, *x: Any) -> Any:
        """Its outputs, parameters, MACs, FLOPs, activations and effect on the image axes, from its
        inputs (:class:`archprof.spec.costs.Tensor`, batch first), as a :class:`archprof.spec.costs.Step`,
        without building anything. An op without this rule (a plugin's, say) is analysed by tracing."""
        raise NotImplementedError


OPS: dict[str, type[Op]] = {}


def register(kind: str, *, stateless: bool = False):
    """Class decorator adding an op under ``kind``; a name can be registered only once.
    ``stateless`` says that its modules hold no parameters or buffers (see :attr:`Op.stateless`)."""

    def decorate(cls: type[Op]) -> type[Op]:
        if kind in OPS:
            raise ValueError(f"op '{kind}' is already registered by {OPS[kind].__qualname__}")
        cls.kind = kind
        cls.stateless = stateless
        cls.module = cls.__dict__.get("module") or cls.__name__.removesuffix("Op")
        OPS[kind] = cls
        return cls

    return decorate


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)
