"""The rows of an analysis as people read them: rolled up to a depth, or as a tree of groups; and
the receptive field in words. Pure functions on the records (no torch, no pandas)."""
from __future__ import annotations

from typing import Any

from archprof.analysis.fields import GLOBAL, UNKNOWN, Field

COLUMNS = ["name", "type", "input_shape", "output_shape", "params", "trainable_params", "macs", "flops",
           "activation_bytes", "spatial", "rf_size", "rf_jump", "rf_gated", "receptive_field", "notes"]


def receptive_field_text(rf: dict | None) -> str:
    """The headline receptive field of ``totals["receptive_field"]``, for people, with its layer."""
    status = (rf or {}).get("status", "none")
    if status == "field":
        return _field_text(rf)
    if status == "global":
        return f"global (from {rf['layer']})"
    if status == "unknown":
        known = rf.get("last_known")
        return f"unknown from {rf['layer']}" + (f" (last known {_field_text(known)})" if known else "")
    return "none"


def _field_text(rf: dict) -> str:
    (h, w), (jh, jw) = rf["size"], rf["jump"]
    jump = f"{jh:g}" if jh == jw else f"{jh:g}x{jw:g}"
    text = f"{h}x{w} (jump {jump}) at {rf['layer']}"
    return text + ", plus global context" if rf.get("gated") else text


SUMMED = ("params", "trainable_params", "macs", "flops", "activation_bytes")
LAST = ("output_shape", "rf_size", "rf_jump", "rf_gated", "spatial", "receptive_field")  # a group ends where its last row does


def _absorb(group: dict[str, Any], row: dict[str, Any]) -> None:
    for col in SUMMED:
        group[col] += row[col]
    for col in LAST:
        group[col] = row[col]
    group["notes"] = "; ".join(n for n in dict.fromkeys((group["notes"] + "; " + row["notes"]).split("; ")) if n)


def rollup(records: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Consecutive rows that share their first ``depth`` name parts become one row."""
    groups: list[dict] = []
    for row in records:
        key = ".".join(str(row["name"]).split(".")[:depth])
        if groups and groups[-1]["name"] == key:
            g = groups[-1]
            _absorb(g, row)
            g["type"] = "group" if g["type"] != row["type"] else g["type"]
        else:
            groups.append({**row, "name": key})
    return groups


def tree(records: list[dict[str, Any]], depth: int | None = None, types: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The rows as a tree, as torchinfo shows it: each run of consecutive rows that share a name
    prefix gets a row of its own (its totals, its last output) before its members, down to
    ``depth`` name parts (deeper rows are rolled up into their ancestor at ``depth``). Each row
    carries its ``level`` (0 at the top); ``types`` names the modules behind the group rows."""
    types = types or {}
    out: list[dict[str, Any]] = []
    open_groups: list[dict[str, Any]] = []
    for row in records:
        parts = str(row["name"]).split(".")
        cut = parts if depth is None else parts[:depth]
        kept = 0
        while kept < min(len(open_groups), len(cut) - 1) and open_groups[kept]["name"] == ".".join(cut[:kept + 1]):
            kept += 1
        del open_groups[kept:]
        for level in range(kept, len(cut) - 1):
            prefix = ".".join(cut[:level + 1])
            group = {**row, **dict.fromkeys(SUMMED, 0), "name": prefix, "type": types.get(prefix, "group"), "notes": "",
                     "level": level, "group": True}
            out.append(group)
            open_groups.append(group)
        name = ".".join(cut)
        last = out[-1] if out else None
        if last is not None and not last["group"] and last["name"] == name and len(cut) < len(parts):
            _absorb(last, row)
            last["type"] = types.get(name, "group")
        else:
            out.append({**row, "name": name, "level": len(cut) - 1, "group": False,
                        "type": types.get(name, "group") if len(cut) < len(parts) else row["type"]})
        for group in open_groups:
            _absorb(group, row)
    return out


def name_depth(records: list[dict[str, Any]]) -> int:
    """The most name parts of any row (``layer1.0.conv1``: 3)."""
    return max((str(r["name"]).count(".") + 1 for r in records), default=1)


def readable_depth(records: list[dict[str, Any]], rows: int = 40) -> int | None:
    """The deepest tree that stays within ``rows`` rows (None: the whole tree fits)."""
    deepest = name_depth(records)
    if len(tree(records)) <= rows:
        return None
    return max((d for d in range(1, deepest) if len(tree(records, d)) <= rows), default=1)



def stages(records: list[dict[str, Any]], depth: int, types: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The model's stages, as reports plot them: the rows rolled up to ``depth`` name parts (the
    spec's top-level groups at depth 1), where a run of single layers around the groups is one
    stage: ``stem`` before the first group (conv, norm, activation, pool), ``head`` after the last
    (pool, flatten, linear). A model with no groups at all (LeNet-5, VGG) is split where the
    output resolution changes, as design-space papers define a stage, and each stage is named by
    its resolution (``112x112``). Each stage carries
    ``first``, the index of its first layer, and ``members``, the layers it spans."""
    types = types or {}
    rolled: list[dict[str, Any]] = []
    for i, row in enumerate(records):
        key = ".".join(str(row["name"]).split(".")[:depth])
        if rolled and rolled[-1]["name"] == key:
            _absorb(rolled[-1], row)
            rolled[-1]["single"] = False
        else:
            single = key == row["name"]
            rolled.append({**row, "name": key, "type": row["type"] if single else types.get(key, "group"),
                           "first": i, "single": single})
    groups = [i for i, r in enumerate(rolled) if not r["single"]]
    if groups:  # runs of single layers between the groups
        def key(i: int) -> Any:
            return None if not rolled[i]["single"] else "stem" if i < groups[0] else "head" if i > groups[-1] else "layers"
    else:       # one stage per output resolution; the flat tail is the head
        def key(i: int) -> Any:
            shape = rolled[i]["output_shape"]
            return tuple(shape[2:]) if isinstance(shape, (tuple, list)) and len(shape) > 2 else "head"
    out: list[dict[str, Any]] = []
    runs: list[list[str]] = []
    for i, row in enumerate(rolled):
        k = key(i)
        if out and k is not None and k == out[-1]["key"]:
            _absorb(out[-1], row)
            runs[-1].append(row["name"])
        else:
            out.append({**row, "key": k})
            runs.append([row["name"]])
    for row, run in zip(out, runs):
        kind = row.pop("key")
        del row["single"]
        row["members"] = run[0] if len(run) == 1 else f"{run[0]} … {run[-1]}"
        if len(run) > 1 or not groups:
            row["type"] = kind if kind in ("stem", "head") else "layers"
            row["name"] = (f"{run[0]}…{run[-1]}" if kind == "layers" else kind if isinstance(kind, str)
                           else "x".join(map(str, kind)))
    return out


def layer_record(name: str, type_: str, input_shape: Any, output_shape: Any, params: int, trainable: int, macs: int, flops: int,
                 activation_bytes: int, rf: Any, notes: str = "") -> dict[str, Any]:
    """One row of an analysis, as both the traced and the torch-free analysis write it (``rf``: a field state)."""
    field = rf if isinstance(rf, Field) else None
    return {
        "name": name,
        "type": type_,
        "input_shape": input_shape,
        "output_shape": output_shape,
        "params": params,
        "trainable_params": trainable,
        "macs": macs,
        "flops": flops,
        "activation_bytes": activation_bytes,
        "spatial": field is not None and field.dims[0] != field.dims[1],
        "rf_size": field.size if field else None,
        "rf_jump": field.jump if field else None,
        "rf_gated": bool(field and field.gated),
        "receptive_field": _state_text(rf),
        "notes": notes,
    }


def _number(value: int | float) -> str:
    return f"{value:g}"


def _state_text(state: Any) -> str:
    if isinstance(state, Field):
        (h, w), (jh, jw) = state.size, state.jump
        text = f"{h}x{w} /{_number(jh)}" if (h, jh) == (w, jw) else f"{h}x{w} /{_number(jh)}x{_number(jw)}"
        return text + (" +gate" if state.gated else "")
    return state or ""


def headline_field(records: list[dict]) -> dict[str, Any]:
    """The model's receptive field, with the layer it comes from.

    ``field``: the last layer with image axes (what papers quote: the window a position of the final
    feature map sees). ``unknown``: the tracker lost the image axes after that layer (or before any),
    so no figure is the model's; the last known one is given apart. ``global``: no layer keeps image
    axes, every position sees the whole input. ``none``: nothing depends on the image.
    """
    spatial = [i for i, r in enumerate(records) if r["rf_size"] is not None and r["spatial"]]
    start = spatial[-1] + 1 if spatial else 0
    known = _field_of(records[spatial[-1]]) if spatial else None
    lost = next((r for r in records[start:] if r["receptive_field"] == UNKNOWN), None)
    if lost is not None:
        return {"status": "unknown", "layer": lost["name"], "last_known": known}
    if known is not None:
        return {"status": "field", **known}
    seen = next((r for r in records if r["receptive_field"] == GLOBAL), None)
    return {"status": "global", "layer": seen["name"]} if seen else {"status": "none", "layer": None}


def _field_of(row: dict) -> dict[str, Any]:
    return {"layer": row["name"], "size": list(row["rf_size"]), "jump": list(row["rf_jump"]), "gated": row["rf_gated"]}
