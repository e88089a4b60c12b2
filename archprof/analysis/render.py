"""Display of an :class:`~archprof.analysis.result.Analysis`: terminal table, markdown, CSV, JSON or HTML.

Works on the analysis records directly, so the command line never needs to import pandas. The
terminal table is a tree at a readable depth that fits the screen; the other formats keep every
row, every column and full precision.
"""
from __future__ import annotations

import csv
import html
import io
import json

from typing import Any

from archprof.analysis.rows import COLUMNS, name_depth, readable_depth, receptive_field_text, tree
from archprof.text import human, markdown_table, rich_rows, shape_text

Analysis = Any  # an archprof.analysis.result.Analysis, which imports this module for its own display

NUMERIC = ("params", "MACs", "FLOPs", "activations")
HEADERS = ["layer", "type", "output", "params", "MACs", "FLOPs", "activations", "receptive field", "notes"]
SHORT = {"activations": "act.", "receptive field": "RF"}
DROP = ("FLOPs", "notes", "type", "activations", "receptive field", "output")  # the order columns go when space is short


def cells(r: dict, name: str | None = None) -> list[str]:
    """Human-readable cells of one row."""
    return [r["name"] if name is None else name, r["type"], shape_text(r["output_shape"]), human(r["params"]), human(r["macs"]),
            human(r["flops"]), human(r["activation_bytes"], "B"), r["receptive_field"], r["notes"]]


def display_rows(records: list[dict]) -> list[list[str]]:
    return [cells(r) for r in records]


def tree_rows(nodes: list[dict]) -> list[list[str]]:
    """Cells of the tree's rows, each name indented under its group and shortened to its last part."""
    return [cells(r, "  " * r["level"] + str(r["name"]).split(".")[-1] if r["level"] else r["name"]) for r in nodes]


def totals_lines(a: Analysis) -> list[str]:
    t = a.totals
    rf_text = receptive_field_text(t["receptive_field"])
    uncounted = ", ".join(f"{k} x{v}" for k, v in sorted(a.uncounted_ops.items())) or "none"
    if a.method == "fast":
        memory = [f"activations {human(t['activation_bytes'], 'B')} written · costed without torch (--fast): the inference "
                  "peak, weights and training memory need a traced pass"]
    else:
        memory = [f"activations {human(t['activation_bytes'], 'B')} written · inference peak {human(t['peak_activation_bytes'], 'B')}"
                  f" · weights {human(t['weight_bytes'], 'B')}",
                  f"training memory: SGD+momentum {human(t['train_memory_sgd_bytes'], 'B')} · AdamW "
                  f"{human(t['train_memory_adamw_bytes'], 'B')} (saved for backward {human(t['saved_activation_bytes'], 'B')})"]
    return [
        f"source {a.source} · input {a.batch}x{'x'.join(map(str, a.input_shape))} · {a.dtype}",
        f"params {t['params']:,} ({human(t['params'])}) · trainable {t['trainable_params']:,}",
        f"MACs {t['macs']:,} ({human(t['macs'])}) · FLOPs {t['flops']:,} ({human(t['flops'])})",
        *memory,
        f"receptive field {rf_text} · input sizes: {a.input_constraints['description']}",
        f"uncounted ops: {uncounted}",
    ]


def table_depth(a: Analysis, depth: int | None) -> int | None:
    """The depth the terminal table shows: the one asked for, else the deepest tree of about 40 rows."""
    return depth if depth is not None else readable_depth(a.records)


def depth_line(a: Analysis, depth: int | None) -> list[str]:
    deepest = name_depth(a.records)
    if depth is None or depth >= deepest:
        return []
    return [f"layers shown to depth {depth} of {deepest} (--depth {deepest} for every layer)"]


def render(a: Analysis, fmt: str, depth: int | None = None, *, columns: list[str] | None = None, width: int | None = None,
           color: bool = False) -> str:
    if fmt == "json":
        return json.dumps(a.to_dict(depth), indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        names = [c for c in COLUMNS if c != "spatial"]
        writer.writerow(names)
        for r in a.rows(depth):
            writer.writerow([shape_text(r[c]) if c in ("input_shape", "output_shape", "rf_size", "rf_jump") else r[c] for c in names])
        return buffer.getvalue()
    if fmt == "md":
        lines = "\n".join(f"- {line}" for line in totals_lines(a))
        return f"## {a.source}\n\n{lines}\n\n" + markdown_table(HEADERS, display_rows(a.rows(depth)), right=NUMERIC)
    if fmt == "html":
        return html_table(a, depth)
    shown = table_depth(a, depth)
    return rich_rows(HEADERS, tree_rows(tree(a.records, shown, a.module_types)), f"archprof analyze {a.source}", NUMERIC,
                     footer=totals_lines(a) + depth_line(a, shown), width=width, drop=DROP, short=SHORT, columns=columns, color=color)


def html_table(a: Analysis, depth: int | None = None) -> str:
    """An HTML table with the totals above it, for notebooks (``Analysis._repr_html_``)."""
    shown = table_depth(a, depth)
    rows = tree(a.records, shown, a.module_types)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = []
    for r, row in zip(rows, tree_rows(rows)):
        tds = []
        for h, value in zip(HEADERS, row):
            style = ' style="text-align:right"' if h in NUMERIC else ""
            text = html.escape(value.strip()) if h != "layer" else "&nbsp;&nbsp;" * r["level"] + html.escape(value.strip())
            tds.append(f"<td{style}>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    totals = "".join(f"<li>{html.escape(line)}</li>" for line in totals_lines(a) + depth_line(a, shown))
    return (f"<div><strong>archprof analyze {html.escape(a.source)}</strong><ul>{totals}</ul>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
