"""The result of an analysis: one record per layer, totals and input constraints; pandas views on demand.

No torch here, so results can be rendered, rolled up and serialised without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


SCHEMA_VERSION = 2  # 2: receptive fields say global, unknown or null apart; constraints list the sizes probed
COLUMNS = ["name", "type", "input_shape", "output_shape", "params", "trainable_params", "macs", "flops",
           "activation_bytes", "spatial", "rf_size", "rf_jump", "rf_gated", "receptive_field", "notes"]


@dataclass
class Analysis:
    source: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    records: list[dict[str, Any]]  # one per row; `layers` is the same as a DataFrame
    totals: dict[str, Any]
    input_constraints: dict[str, Any]
    uncounted_ops: dict[str, int] = field(default_factory=dict)
    example_inputs: list[dict[str, Any]] = field(default_factory=list)  # given with input_data: name, shape, dtype

    @cached_property
    def layers(self) -> "pd.DataFrame":
        """One row per leaf module or functional op (pandas is imported on first use only)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records, columns=COLUMNS)

    def rollup(self, depth: int) -> "pd.DataFrame":
        """Rows grouped by the first ``depth`` components of their names (stages, blocks)."""
        import pandas as pd

        return pd.DataFrame.from_records(rollup(self.records, depth), columns=COLUMNS)

    def rows(self, depth: int | None = None) -> list[dict[str, Any]]:
        return self.records if depth is None else rollup(self.records, depth)

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        records = self.rows(depth)
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "dtype": self.dtype,
            "totals": self.totals,
            "input_constraints": self.input_constraints,
            "layers": [_json_row(r) for r in records],
            "uncounted_ops": self.uncounted_ops,
            **({"example_inputs": self.example_inputs} if self.example_inputs else {}),
        }


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


def _json_row(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if key in ("rf_size", "rf_jump", "rf_gated", "spatial"):
            continue
        if isinstance(value, tuple):
            value = _listify(value)
        out[key] = value
    size, jump = row.get("rf_size"), row.get("rf_jump")
    # a window ({size, jump, gated}), "global", "unknown", or null where the row does not depend on the image
    out["receptive_field"] = (
        {"size": list(size), "jump": list(jump), "gated": bool(row.get("rf_gated"))} if isinstance(size, tuple)
        else (row["receptive_field"] or None))
    return out


def _listify(value: Any) -> Any:
    return [_listify(v) for v in value] if isinstance(value, (tuple, list)) else value


def rollup(records: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Consecutive rows that share their first ``depth`` name parts become one row."""
    groups: list[dict] = []
    for row in records:
        key = ".".join(str(row["name"]).split(".")[:depth])
        if groups and groups[-1]["name"] == key:
            g = groups[-1]
            for col in ("params", "trainable_params", "macs", "flops", "activation_bytes"):
                g[col] += row[col]
            g["output_shape"], g["rf_size"], g["rf_jump"], g["rf_gated"] = row["output_shape"], row["rf_size"], row["rf_jump"], row["rf_gated"]
            g["spatial"] = row["spatial"]
            g["receptive_field"] = row["receptive_field"]
            g["type"] = "group" if g["type"] != row["type"] else g["type"]
            g["notes"] = "; ".join(n for n in dict.fromkeys((g["notes"] + "; " + row["notes"]).split("; ")) if n)
        else:
            groups.append({**row, "name": key})
    return groups
