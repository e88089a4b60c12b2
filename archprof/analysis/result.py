"""The result of an analysis: one record per layer, totals and input constraints; pandas views on demand.

No torch here, so results can be rendered, rolled up and serialised without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from archprof.analysis.rows import COLUMNS, rollup

if TYPE_CHECKING:
    import pandas as pd


SCHEMA_VERSION = 2  # 2: receptive fields say global, unknown or null apart; constraints list the sizes probed


@dataclass(repr=False)
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
    module_types: dict[str, str] = field(default_factory=dict)  # containers by name (the tree's group rows)
    method: str = "traced"  # "fast": costed from the spec's plan without torch (no measured memory totals)

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

    def __repr__(self) -> str:
        t = self.totals
        from archprof.text import human

        return (f"<Analysis {self.source} · input {self.batch}x{'x'.join(map(str, self.input_shape))} {self.dtype} · "
                f"{human(t['params'])} params · {human(t['macs'])} MACs · {len(self.records)} rows>")

    def __str__(self) -> str:
        """The command line's table and totals, at the screen's width."""
        from archprof.analysis.render import render

        return render(self, "table")

    def table(self, depth: int | None = None, columns: list[str] | None = None, width: int | None = None):
        """The terminal table and totals as a rich renderable (``rich.print(a.table())``; ``str()`` for plain
        text): ``depth`` name levels (default: a readable tree), ``columns`` by header, ``width`` in characters."""
        from rich.text import Text

        from archprof.analysis.render import render

        return Text.from_ansi(render(self, "table", depth, columns=columns, width=width, color=True))

    def _repr_html_(self) -> str:
        from archprof.analysis.render import html_table

        return html_table(self)

    def _repr_markdown_(self) -> str:
        from archprof.analysis.render import render

        return render(self, "md")

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
            "method": self.method,
            **({"example_inputs": self.example_inputs} if self.example_inputs else {}),
        }


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
