"""The rows of an analysis as people read them: rolled up to a depth, or as a tree of groups; and
the receptive field in words. Pure functions on the records (no torch, no pandas)."""
from __future__ import annotations

from typing import Any

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
