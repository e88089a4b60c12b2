"""The spec file format: pydantic models of a file and of a merged spec, and the JSON Schema for editors.

A spec is data. The top level is validated by the models below; layers are checked by the
resolver (:mod:`archprof.spec.plan`), which knows the ops.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from archprof.errors import Location, SpecError
from archprof.spec import budgets
from archprof.spec.yamlsrc import locate

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
UNITS = {"count": 1, "K": 1e3, "M": 1e6, "G": 1e9, "%": 1, "img/s": 1}


def _budget(text: str) -> str:
    budgets.parse(text)  # raises BudgetError (a ValueError) with the expected form
    return text


BudgetText = Annotated[str, AfterValidator(_budget)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paper(_Model):
    title: str
    authors: str | None = None
    year: int | None = None
    url: str | None = None


class Figure(_Model):
    """A published number the spec must reproduce, with its unit, tolerance and source."""

    metric: Literal["params", "macs", "top1", "top5", "throughput"]
    value: float
    unit: Literal["count", "K", "M", "G", "%", "img/s"]
    tol: Union[float, str] = Field(0.0, description="absolute, in the figure's unit, or relative as '2%'")
    source: str
    dataset: str | None = None
    resolution: int | None = None
    note: str | None = None
    check: bool = Field(True, description="false: quoted for context (another version of the architecture), not verified")
    weights: str | None = Field(None, description="accuracy figures: the reference's weights that measured it, as the library "
                                "names them (torchvision 'ResNet18_Weights.IMAGENET1K_V1', timm 'convnext_tiny.fb_in1k'); "
                                "default: the one the source names")
    crop: Literal["center", "ten-crop"] = Field("center", description="accuracy figures: one centre crop per image, or the "
                                                "mean of ten crops (corners, centre and their mirrors; AlexNet paper)")

    @field_validator("tol", mode="before")
    @classmethod
    def _tol(cls, v):
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str) and not re.fullmatch(r"\d+(\.\d+)?%", v):
            raise ValueError("tolerance must be a number in the figure's unit or a percentage like '2%'")
        return v

    def scaled(self) -> float:
        """The value in base units (parameters, MACs, percent, images/s)."""
        return self.value * UNITS[self.unit]

    def tolerance(self) -> float:
        """Absolute tolerance in base units."""
        if isinstance(self.tol, str):
            return abs(self.scaled()) * float(self.tol[:-1]) / 100
        return self.tol * UNITS[self.unit]


Percent = Annotated[str, Field(pattern=r"^[+-]?\d+(\.\d+)?%$", description="a signed percentage, e.g. '-13.6%'")]


class MemoryDifference(_Model):
    """Where the compiled spec's activation memory differs from its reference's, by how much and why."""

    peak: Percent | None = Field(None, description="inference peak: (spec - reference) / reference, as measured")
    saved: Percent | None = Field(None, description="saved for backward: (spec - reference) / reference, as measured")
    note: str = Field(description="why the two differ")


class Reference(_Model):
    """The public implementation this spec must equal, and how its parameter names map to ours."""

    library: Literal["torchvision", "timm"]
    model: str
    kwargs: dict[str, Any] = {}
    rename: list[tuple[str, str]] = Field([], description="regex substitutions applied in order to the reference's state_dict keys")
    memory: MemoryDifference | None = Field(
        None, description="explains a difference of more than 1% in inference peak or saved-for-backward memory")


class BlockDef(_Model):
    """A reusable block written in the spec language."""

    doc: str | None = None
    params: dict[str, Any] = Field({}, description="parameter -> default; the value 'required' makes it mandatory")
    inputs: list[str] = ["input"]
    let: dict[str, Any] = {}
    layers: list[Any]
    output: Union[str, list[str], None] = None


class Trainability(_Model):
    """How to check on a CPU in seconds that the spec learns: a smaller setting of the same spec."""

    params: dict[str, Any] = Field({}, description="parameter overrides that shrink the model (widths, depths)")
    input: list[int] | None = Field(None, description="input size for the check (default: the spec's)")
    data: Literal["digits", "mnist5k"] = "digits"
    steps: int = Field(120, gt=0, le=5000)
    batch_size: int = Field(32, gt=0)
    lr: float = Field(2e-3, gt=0)
    warmup: int = Field(0, ge=0, description="linear warm-up steps before the cosine decay (transformers need some)")
    bar: float = Field(0.5, gt=0, le=1, description="held-out accuracy the run must reach (chance is 0.1)")


class Variant(_Model):
    description: str | None = None
    params: dict[str, Any] = {}
    figures: list[Figure] = []
    reference: Reference | None = None
    trainability: Trainability | None = None
    recipe: dict[Literal["paper", "fast"], dict[str, Any]] | None = Field(None, description="merged key by key over the family's recipe")
    budgets: list[BudgetText] | None = Field(None, description="replace the family's budgets for this variant")


class SpecFile(_Model):
    """One YAML file: a family (layers, blocks, variants) or a small file that extends one."""

    extends: str | None = Field(None, description="path of the family spec this file builds on (relative to this file)")
    variant: str | None = Field(None, description="which variant of the extended family")
    name: str | None = None
    family: str | None = None
    title: str | None = None
    description: str | None = None
    paper: Paper | None = None
    input: list[Union[int, str]] | None = Field(None, description="input shape without batch, e.g. [3, 224, 224]")
    params: dict[str, Any] = {}
    let: dict[str, Any] = Field({}, description="derived values, evaluated in order after params")
    blocks: dict[str, BlockDef] = {}
    layers: list[Any] | None = None
    variants: dict[str, Variant] = {}
    figures: list[Figure] = []
    reference: Reference | None = None
    recipe: dict[Literal["paper", "fast"], dict[str, Any]] | None = Field(
        None, description="training settings: 'paper' (as published) and 'fast' (a short CPU run); keys as TrainConfig")
    trainability: Trainability | None = None
    init: dict[str, str] | None = Field(None, description="weight init per layer kind, e.g. {conv: kaiming_normal_fan_out, linear: normal(0.01)}")
    budgets: list[BudgetText] | None = Field(
        None, description="limits on the analysis totals, checked by `archprof gate` and `archprof verify`, "
                          "e.g. ['params<=30M', 'macs<=5G', 'peak_activation<=64MiB']")

    @field_validator("init")
    @classmethod
    def _init(cls, init):
        from archprof.spec import init as schemes

        return schemes.validate(init or {}) or None

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, recipes):
        from archprof.spec.recipe import TrainConfig

        for name, settings in (recipes or {}).items():
            TrainConfig.from_recipe(settings)  # raises with the offending setting
        return recipes


#: Sections a spec may leave out whose empty value is not part of :meth:`Spec.digest`.
LATER_FIGURE_FIELDS = {"weights": None, "crop": "center"}
OPTIONAL_SECTIONS = ("budgets",)


class Spec(BaseModel):
    """A spec after ``extends`` and variant merging: everything needed to resolve and build."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    file: str
    family: str | None = None
    title: str | None = None
    description: str | None = None
    paper: Paper | None = None
    input: list[Any]
    params: dict[str, Any]
    let: dict[str, Any]
    blocks: dict[str, BlockDef]
    layers: Any  # the YAML list itself, which remembers its lines
    figures: list[Figure] = []
    reference: Reference | None = None
    recipe: dict[str, Any] | None = None
    init: dict[str, str] | None = None
    budgets: list[str] = []
    trainability: Trainability = Trainability()
    variant: str | None = None
    raw: Any = Field(None, exclude=True, repr=False)  # the family's YAML, for error locations

    def stable_dump(self, **kwargs) -> dict:
        """``model_dump`` (JSON mode) without the figure fields added later where they are at their
        defaults, so that the hashes of specs written before them stay valid."""
        data = self.model_dump(mode="json", **kwargs)
        for figure in data.get("figures", []):
            for key, default in LATER_FIGURE_FIELDS.items():
                if figure.get(key) == default:
                    figure.pop(key, None)
        return data

    def digest(self) -> str:
        """A short content hash of everything that defines the architecture and its figures."""
        data = self.stable_dump(exclude={"file", "raw"})
        for key in OPTIONAL_SECTIONS:  # fields added later: absent and empty hash alike, so old hashes stay valid
            if not data.get(key):
                data.pop(key, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def pydantic_error(exc: ValidationError, raw: Any, base: Location | None = None) -> SpecError:
    """The most telling pydantic error as a SpecError that points at the offending line and field."""
    err = _most_specific(exc.errors())
    # union members add tags such as "constrained-int" or "tuple[int, int]" to the path: drop them
    path = tuple(p for p in err["loc"] if isinstance(p, int) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(p)))
    msg = err["msg"].removeprefix("Value error, ")
    tuple_tag = next((str(p) for p in err["loc"] if str(p).startswith("tuple[")), None)
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] in ("too_long", "too_short") and "max_length" in err.get("ctx", {}):
        msg = f"expected {err['ctx']['max_length']} values, got {err['ctx']['actual_length']}"
    elif err["type"] == "missing" and tuple_tag and path and isinstance(path[-1], int):
        msg = f"expected {_arity(tuple_tag)} values, got {path[-1]}"
        path = path[:-1]
    elif err["type"] == "missing":
        msg = "field required"
    return SpecError(msg, locate(raw, path, base))


def _arity(tag: str) -> int:
    """Members of a pydantic tuple tag: ``tuple[constrained-int, constrained-int]`` -> 2."""
    depth, count = 0, 1
    for ch in tag[len("tuple["):-1]:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            count += 1
    return count


def _most_specific(errors: list[dict]) -> dict:
    """For a value that fits no member of a union (``kernel: 3`` or ``kernel: [3, 3]``), the error of
    the member the value looks like: a list is judged by the tuple member, a number by the int."""
    first = errors[0]
    field = first["loc"][:1]
    if isinstance(first.get("input"), (list, tuple)):
        for err in errors:
            if err["loc"][:1] == field and any(str(p).startswith("tuple[") for p in err["loc"]):
                return err
    return first
