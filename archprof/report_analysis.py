"""Display of an :class:`archprof.analysis.Analysis`: terminal table, markdown, CSV or JSON."""
from __future__ import annotations

import json

import pandas as pd

from archprof.analysis import Analysis
from archprof.render import human, render_frame, rich_table, shape_text

NUMERIC = ("params", "MACs", "FLOPs", "activations")


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Human-readable columns for the terminal and markdown."""
    return pd.DataFrame({
        "layer": frame["name"],
        "type": frame["type"],
        "output": frame["output_shape"].map(shape_text),
        "params": frame["params"].map(human),
        "MACs": frame["macs"].map(human),
        "FLOPs": frame["flops"].map(human),
        "activations": frame["activation_bytes"].map(lambda b: human(b, "B")),
        "receptive field": frame["receptive_field"],
        "notes": frame["notes"],
    })


def totals_lines(a: Analysis) -> list[str]:
    t = a.totals
    rf = t["receptive_field"]
    rf_text = f"{rf['size'][0]}x{rf['size'][1]} (jump {rf['jump'][0]}) at {rf['layer']}" if rf else "none"
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
    frame = a.layers if depth is None else a.rollup(depth)
    if fmt == "json":
        return json.dumps(a.to_dict(depth), indent=2) + "\n"
    if fmt == "csv":
        out = frame.drop(columns=["spatial"]).copy()
        for col in ("input_shape", "output_shape", "rf_size", "rf_jump"):
            out[col] = out[col].map(shape_text)
        return out.to_csv(index=False)
    shown = display_frame(frame)
    if fmt == "md":
        lines = "\n".join(f"- {line}" for line in totals_lines(a))
        return f"## {a.source}\n\n{lines}\n\n" + render_frame(shown, "md", right=NUMERIC)
    return rich_table(shown, f"archprof analyze {a.source}", NUMERIC, footer=totals_lines(a))
