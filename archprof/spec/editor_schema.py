"""The JSON Schema of spec files, for editors: the file model, and every layer checked against its op.

The file model comes from the pydantic models of :mod:`archprof.spec.schema`. A layer item is a
``seq`` (nested layers), an ``inline`` group, or an ``op``: for a registered op (bundled or from a
loaded plugin) its arguments are those of the op's model, so a misspelt argument is flagged as
you type; any argument may also be an expression (a string). An ``op`` that names no registered
op calls one of the file's blocks (or a parameter naming an op), whose names and arguments a
schema cannot see; such a name is accepted unless it is one edit away from a registered op
(``convv``, ``rleu``), which is taken for a typo. ``archprof check`` remains the full check.
"""
from __future__ import annotations

import re
from typing import Any

EXPRESSION = {"type": "string", "description": "an expression, evaluated with the spec's params, let and loop variables"}
COMMON = {
    "name": {"type": ["string", "integer"], "description": "the module name (may use {expr} templates)"},
    "from": {"description": "the layer(s) it reads (default: the previous one)",
             "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "outputs": {"type": "array", "items": {"type": "string"}, "description": "names for the outputs of a multi-output op or block"},
    "for": {"type": "object", "description": "loop variables and their lists, e.g. {i: range(4)}"},
    "repeat": {"anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION], "description": "repeat the layer; i counts from 0"},
    "when": {"anyOf": [{"type": "boolean"}, EXPRESSION], "description": "keep the layer only when true"},
    "doc": {"type": "string"},
}


def _relaxed(schema: Any) -> Any:
    """``schema`` where every number, boolean or enumerated value may also be an expression."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [_relaxed(s) for s in out[key]]
    if "items" in out:
        out["items"] = _relaxed(out["items"])
    if "prefixItems" in out:
        out["prefixItems"] = [_relaxed(s) for s in out["prefixItems"]]
    if out.get("type") in ("integer", "number", "boolean") or "enum" in out or "const" in out:
        return {"anyOf": [out, EXPRESSION]}
    return out


def near_misses(names: list[str]) -> str:
    """A regular expression matching every string one edit (deletion, insertion, substitution or
    swap of neighbours) away from one of ``names``, without matching the names themselves."""
    alternatives = set()
    for n in names:
        for i in range(len(n) + 1):
            alternatives.add(re.escape(n[:i]) + "." + re.escape(n[i:]))              # insertion
            if i < len(n):
                alternatives.add(re.escape(n[:i] + n[i + 1:]))                       # deletion
                alternatives.add(re.escape(n[:i]) + "." + re.escape(n[i + 1:]))      # substitution
            if i + 1 < len(n):
                alternatives.add(re.escape(n[:i] + n[i + 1] + n[i] + n[i + 2:]))     # swap
    return "^(?:" + "|".join(sorted(alternatives)) + ")$"


def _op_item(kind: str, op) -> dict:
    model = op.model_json_schema()
    args = {name: _relaxed(prop) for name, prop in model.get("properties", {}).items()}
    return {
        "description": " ".join((op.__doc__ or "").split()),
        "type": "object",
        "properties": {"op": {"const": kind}, **COMMON, **args},
        "required": ["op", *[r for r in model.get("required", [])]],
        "additionalProperties": False,
    }


def layer_defs(ops: dict[str, type]) -> dict[str, dict]:
    """``$defs`` entries: one item schema per op, and the layer schema."""
    defs: dict[str, dict] = {f"op_{kind}": _op_item(kind, op) for kind, op in sorted(ops.items())}
    names = sorted(ops)
    registered = {
        "type": "object",
        "required": ["op"],
        "properties": {"op": {"enum": names}},
        "allOf": [{"if": {"properties": {"op": {"const": k}}}, "then": {"$ref": f"#/$defs/op_{k}"}} for k in names],
    }
    block_call = {
        "description": "a block of this file, or a parameter naming an op: its arguments are the block's",
        "type": "object",
        "required": ["op"],
        "properties": {"op": {"type": "string", "not": {"anyOf": [{"enum": names}, {"pattern": near_misses(names)}]}}, **COMMON},
    }

    def nested(key: str, keys: dict) -> dict:
        return {"type": "object", "required": [key], "additionalProperties": False,
                "properties": {key: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}}, **keys}}

    inline_keys = {k: COMMON[k] for k in ("for", "repeat", "when", "doc")}
    defs["layer"] = {"description": "a layer: an op, a block, a seq of layers or an inline group",
                     "anyOf": [registered, block_call, nested("seq", COMMON), nested("inline", inline_keys)]}
    return defs


def json_schema() -> dict:
    """JSON Schema of spec files, generated from the validators (for editor completion)."""
    from archprof import ops
    from archprof.spec.schema import SpecFile

    schema = SpecFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archprof spec"
    defs = schema.setdefault("$defs", {})
    defs.update(layer_defs(ops.load()))
    layers = {"anyOf": [{"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}}, {"type": "null"}]}
    schema["properties"]["layers"] = {**layers, "description": "the model, first layer first"}
    defs["BlockDef"]["properties"]["layers"] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}}
    return schema
