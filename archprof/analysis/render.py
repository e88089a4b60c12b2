"""Display of an :class:`~archprof.analysis.result.Analysis`: terminal table, markdown, CSV or JSON.

Works on the analysis records directly, so the command line never needs to import pandas.
"""
from __future__ import annotations

import csv
import io
import json

from archprof.analysis.result import COLUMNS, Analysis, receptive_field_text
from archprof.text import human, markdown_table, rich_rows, shape_text

NUMERIC = ("params", "MACs", "FLOPs", "activations")
HEADERS = ["layer", "type", "output", "params", "MACs", "FLOPs", "activations", "receptive field", "notes"]


def display_rows(records: list[dict]) -> list[list[str]]:
    """Human-readable cells for the terminal and markdown."""
    return [[r["name"], r["type"], shape_text(r["output_shape"]), human(r["params"]), human(r["macs"]), human(r["flops"]),
             human(r["activation_bytes"], "B"), r["receptive_field"], r["notes"]] for r in records]


def totals_lines(a: Analysis) -> list[str]:
    t = a.totals
    rf_text = receptive_field_text(t["receptive_field"])
    uncounted = ", ".join(f"{k} x{v}" for k, v in sorted(a.uncounted_ops.items())) or "none"
    return [
        f"source {a.source} · input {a.batch}x{'x'.join(map(str, a.input_shape))} · {a.dtype}",
        f"params {t['params']:,} ({human(t['params'])}) · trainable {t['trainable_params']:,}",
        f"MACs {t['macs']:,} ({human(t['macs'])}) · FLOPs {t['flops']:,} ({human(t['flops'])})",
        f"activations {human(t['activation_bytes'], 'B')} written · inference peak {human(t['peak_activation_bytes'], 'B')}"
        f" · weights {human(t['weight_bytes'], 'B')}",
        f"training memory: SGD+momentum {human(t['train_memory_sgd_bytes'], 'B')} · AdamW {human(t['train_memory_adamw_bytes'], 'B')}"
        f" (saved for backward {human(t['saved_activation_bytes'], 'B')})",
        f"receptive field {rf_text} · input sizes: {a.input_constraints['description']}",
        f"uncounted ops: {uncounted}",
    ]


def render(a: Analysis, fmt: str, depth: int | None = None) -> str:
    records = a.rows(depth)
    if fmt == "json":
        return json.dumps(a.to_dict(depth), indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = [c for c in COLUMNS if c != "spatial"]
        writer.writerow(columns)
        for r in records:
            writer.writerow([shape_text(r[c]) if c in ("input_shape", "output_shape", "rf_size", "rf_jump") else r[c] for c in columns])
        return buffer.getvalue()
    cells = display_rows(records)
    if fmt == "md":
        lines = "\n".join(f"- {line}" for line in totals_lines(a))
        return f"## {a.source}\n\n{lines}\n\n" + markdown_table(HEADERS, cells, right=NUMERIC)
    return rich_rows(HEADERS, cells, f"archprof analyze {a.source}", NUMERIC, footer=totals_lines(a))
