"""Loading specs: by path or bundled name, following ``extends``, applying a variant and parameter overrides.

Loading never imports torch and never runs code: YAML is parsed safely (:mod:`archprof.spec.yamlsrc`).
"""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from stat import S_ISREG
from typing import Any

from pydantic import ValidationError

from archprof.errors import Location, SpecError
from archprof.spec.schema import Spec, SpecFile, Trainability, Variant, pydantic_error
from archprof.spec.yamlsrc import Mapping, load_file, locate


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
    """The validated file; a family file read for one variant is not read again for the next (the
    zoo holds 49 variants of 13 files) unless it changed on disk."""
    try:
        stat = path.stat()
    except OSError:
        return _read(path)
    if not S_ISREG(stat.st_mode):
        return _read(path)
    return _cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _cached(path: str, _mtime_ns: int, _size: int) -> tuple[SpecFile, Mapping]:
    return _read(Path(path))


def _read(path: Path) -> tuple[SpecFile, Mapping]:
    raw = load_file(path)
    if raw is None:
        raise SpecError("the spec file is empty", Location(str(path), 1))
    if not isinstance(raw, Mapping):
        raise SpecError("a spec must be a YAML mapping at the top level", Location(str(path), getattr(raw, "line", 1)))
    try:
        return SpecFile.model_validate(raw), raw
    except ValidationError as exc:
        raise pydantic_error(exc, raw) from None


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
    updates = {k: getattr(spec, k) for k in ("title", "description", "paper", "input", "reference", "recipe", "trainability", "init", "budgets") if getattr(spec, k) is not None}
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
        budgets=chosen.budgets if chosen.budgets is not None else spec.budgets or [],
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
