"""The spec file format: its schema, loading, ``extends``/``variant`` merging and lookup by name.

A spec is data. Loading never imports torch and never runs code: YAML is parsed safely
(:mod:`archprof.yamlsrc`), the top level is validated by the pydantic models below (which also
give the JSON Schema for editors), and layers are checked by the resolver (:mod:`archprof.plan`).
"""
from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from archprof.errors import Location, SpecError
from archprof.yamlsrc import Mapping, load_file, locate

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
UNITS = {"count": 1, "K": 1e3, "M": 1e6, "G": 1e9, "%": 1, "img/s": 1}


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


class Reference(_Model):
    """The public implementation this spec must equal, and how its parameter names map to ours."""

    library: Literal["torchvision", "timm"]
    model: str
    kwargs: dict[str, Any] = {}
    rename: list[tuple[str, str]] = Field([], description="regex substitutions applied in order to the reference's state_dict keys")


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

    @field_validator("init")
    @classmethod
    def _init(cls, init):
        from archprof import init as schemes

        return schemes.validate(init or {}) or None

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, recipes):
        from archprof.recipe import TrainConfig

        for name, settings in (recipes or {}).items():
            TrainConfig.from_recipe(settings)  # raises with the offending setting
        return recipes


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
    trainability: Trainability = Trainability()
    variant: str | None = None
    raw: Any = Field(None, exclude=True, repr=False)  # the family's YAML, for error locations

    def digest(self) -> str:
        """A short content hash of everything that defines the architecture and its figures."""
        data = self.model_dump(exclude={"file", "raw"}, mode="json")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def bundled_dir() -> Path:
    """The specs shipped with the package (the repository's ``specs/`` folder)."""
    return Path(str(resources.files("archprof.specs")))


def zoo_names() -> list[str]:
    """Names of every bundled spec (one file each under ``specs/``)."""
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def find(source: str | Path) -> Path:
    """A spec path, or the bundled spec of that name."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    bundled = bundled_dir() / f"{source}.yaml"
    if bundled.exists():
        return bundled
    names = ", ".join(zoo_names())
    raise SpecError(f"no spec file or bundled spec named '{source}' (bundled: {names})")


def _parse(path: Path) -> tuple[SpecFile, Mapping]:
    raw = load_file(path)
    if raw is None:
        raise SpecError("the spec file is empty", Location(str(path), 1))
    if not isinstance(raw, Mapping):
        raise SpecError("a spec must be a YAML mapping at the top level", Location(str(path), getattr(raw, "line", 1)))
    try:
        return SpecFile.model_validate(raw), raw
    except ValidationError as exc:
        raise pydantic_error(exc, raw) from None


def pydantic_error(exc: ValidationError, raw: Any, base: Location | None = None) -> SpecError:
    """The first pydantic error as a SpecError that points at the offending line and field."""
    err = exc.errors()[0]
    # union members add tags such as "constrained-int" or "tuple[int, int]" to the path: drop them
    path = tuple(p for p in err["loc"] if isinstance(p, int) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(p)))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "field required"
    return SpecError(msg, locate(raw, path, base))


def load_spec(source: str | Path, *, variant: str | None = None, params: dict[str, Any] | None = None) -> Spec:
    """Load a spec by path or bundled name, following ``extends``, applying its variant and
    then ``params`` (overrides of the family's parameters, e.g. ``{"num_classes": 10}``)."""
    spec = _load(source, variant=variant)
    if params:
        unknown = sorted(set(params) - set(spec.params))
        if unknown:
            raise SpecError(f"unknown parameter '{unknown[0]}' (known: {', '.join(spec.params)})", Location(spec.file))
        spec = spec.model_copy(update={"params": {**spec.params, **params}})
    return spec


def _load(source: str | Path, *, variant: str | None = None, _depth: int = 0) -> Spec:
    path = find(source)
    spec, raw = _parse(path)
    if spec.extends is None:
        return _family_spec(spec, raw, path, variant or spec.variant)
    if _depth > 8:
        raise SpecError("'extends' chain is too long (cycle?)", locate(raw, ("extends",)))
    parent_path = (path.parent / spec.extends)
    if not parent_path.exists():
        parent_path = bundled_dir() / spec.extends
    if not parent_path.exists():
        raise SpecError(f"extended spec '{spec.extends}' not found", locate(raw, ("extends",)))
    for field in ("layers", "blocks", "variants"):
        if getattr(spec, field):
            raise SpecError(f"a spec that extends another cannot define '{field}'", locate(raw, (field,)))
    base = _load(parent_path, variant=variant or spec.variant, _depth=_depth + 1)
    updates = {k: getattr(spec, k) for k in ("title", "description", "paper", "input", "reference", "recipe", "trainability", "init") if getattr(spec, k) is not None}
    if spec.figures:
        updates["figures"] = spec.figures
    unknown = set(spec.params) - set(base.params)
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(f"unknown parameter (known: {', '.join(base.params)})", locate(raw, ("params", key)))
    return base.model_copy(update={
        **updates,
        "name": spec.name or path.stem,
        "file": str(path),
        "params": {**base.params, **spec.params},
        "let": {**base.let, **spec.let},
    })


def _family_spec(spec: SpecFile, raw: Mapping, path: Path, variant: str | None) -> Spec:
    where = Location(str(path), 1)
    if spec.layers is None:
        raise SpecError("field required", where.child("layers"))
    if spec.input is None:
        raise SpecError("field required", where.child("input"))
    chosen = Variant()
    if variant is not None:
        if variant not in spec.variants:
            known = ", ".join(spec.variants) or "none"
            raise SpecError(f"unknown variant '{variant}' (known: {known})", locate(raw, ("variant",)))
        chosen = spec.variants[variant]
        unknown = set(chosen.params) - set(spec.params)
        if unknown:
            key = sorted(unknown)[0]
            raise SpecError(f"unknown parameter (known: {', '.join(spec.params)})", locate(raw, ("variants", variant, "params", key)))
    return Spec(
        name=spec.name or variant or path.stem,
        file=str(path),
        family=spec.family,
        title=spec.title,
        description=chosen.description or spec.description,
        paper=spec.paper,
        input=list(spec.input),
        params={**spec.params, **chosen.params},
        let=dict(spec.let),
        blocks=dict(spec.blocks),
        layers=raw["layers"],
        figures=chosen.figures or spec.figures,
        reference=chosen.reference or spec.reference,
        recipe=_merge_recipes(spec.recipe, chosen.recipe),
        init=spec.init,
        trainability=chosen.trainability or spec.trainability or Trainability(),
        variant=variant,
        raw=raw,
    )


def _merge_recipes(family: dict | None, variant: dict | None) -> dict | None:
    if not variant:
        return family
    merged = {k: dict(v) for k, v in (family or {}).items()}
    for name, settings in variant.items():
        merged[name] = {**merged.get(name, {}), **settings}
    return merged


def json_schema() -> dict:
    """JSON Schema of spec files, generated from the validator (for editor completion)."""
    from archprof.registry import load_ops

    schema = SpecFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archprof spec"
    schema.setdefault("$defs", {})
    for kind, op in sorted(load_ops().items()):
        op_schema = op.model_json_schema()
        op_schema["description"] = (op.__doc__ or "").strip()
        schema["$defs"][f"op_{kind}"] = op_schema
    return schema
