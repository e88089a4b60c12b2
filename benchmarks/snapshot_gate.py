"""Deterministic snapshots of ``archprof analyze``: one markdown file per spec under ``baselines/``.

A snapshot holds the totals and, per layer, the output shape, params, MACs, FLOPs, activation
bytes and receptive field, as exact integers, so a diff in review shows exactly what moved. The
gate compares a fresh analysis (on the meta device: fast and deterministic) with the file and,
on any change, fails with a per-layer diff. Re-bless with ``python -m pytest benchmarks --bless``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLESS_COMMAND = "python -m pytest benchmarks --bless"
LAYER_COLUMNS = (("layer", "layer"), ("type", "type"), ("output", "output"), ("params", "params"), ("macs", "MACs"),
                 ("flops", "FLOPs"), ("activation_bytes", "activation bytes"), ("receptive_field", "receptive field"))
NUMERIC = {"params", "macs", "flops", "activation_bytes"}
TOTAL_KEYS = ("params", "trainable_params", "macs", "flops", "activation_bytes", "input_bytes", "peak_activation_bytes",
              "weight_bytes", "saved_activation_bytes", "train_memory_sgd_bytes", "train_memory_adamw_bytes")
MAX_LAYER_LINES = 40


@dataclass
class Snapshot:
    name: str
    header: str = ""
    totals: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, str]] = field(default_factory=list)


def _shape(shape: Any) -> str:
    if shape is None:
        return ""
    if shape and isinstance(shape[0], (tuple, list)):
        return ", ".join(_shape(s) for s in shape)
    return "x".join(str(int(d)) for d in shape)


def take(source: str, name: str | None = None) -> Snapshot:
    """Analyse ``source`` (bundled spec name or spec path) on the meta device."""
    from archprof.analysis import analyze

    a = analyze(source)
    t = a.totals
    totals = {k: str(int(t[k])) for k in TOTAL_KEYS}
    rf = t.get("receptive_field")
    totals["receptive_field"] = (f"{rf['size'][0]}x{rf['size'][1]} /{rf['jump'][0]}x{rf['jump'][1]} at {rf['layer']}" if rf else "none")
    totals["input_sizes"] = str(a.input_constraints.get("description", ""))
    totals["uncounted_ops"] = ", ".join(f"{k} x{v}" for k, v in sorted(a.uncounted_ops.items())) or "none"
    rows = []
    records = a.records if hasattr(a, "records") else a.layers.to_dict("records")
    for r in records:
        rows.append({
            "layer": str(r["name"]), "type": str(r["type"]), "output": _shape(r["output_shape"]),
            "params": str(int(r["params"])), "macs": str(int(r["macs"])), "flops": str(int(r["flops"])),
            "activation_bytes": str(int(r["activation_bytes"])), "receptive_field": str(r["receptive_field"] or ""),
        })
    label = name or Path(str(source)).stem
    header = (f"`archprof analyze {a.source}` snapshot: input {'x'.join(map(str, a.input_shape))}, batch {a.batch}, {a.dtype}, "
              f"meta device. Checked by `python -m pytest benchmarks`; after an intended change re-bless with `{BLESS_COMMAND}`.")
    return Snapshot(label, header, totals, rows)


def _cell(value: str) -> str:
    return value.replace("|", "\\|")


def render(snap: Snapshot) -> str:
    lines = [f"# {snap.name}", "", snap.header, "", "## Totals", "", "| total | value |", "|:--|--:|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in snap.totals.items()]
    lines += ["", "## Layers", "", "| " + " | ".join(title for _, title in LAYER_COLUMNS) + " |",
              "|" + "|".join("--:" if key in NUMERIC else ":--" for key, _ in LAYER_COLUMNS) + "|"]
    for row in snap.rows:
        lines.append("| " + " | ".join(_cell(row[key]) for key, _ in LAYER_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


_SPLIT = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _SPLIT.split(inner)]


def parse(text: str, name: str) -> Snapshot:
    snap = Snapshot(name)
    section = None
    header_seen = False
    for line in text.splitlines():
        if line.startswith("## "):
            section, header_seen = line[3:].strip().lower(), False
            continue
        if not line.startswith("|"):
            if section is None and line.strip() and not line.startswith("# "):
                snap.header = line.strip()
            continue
        if re.fullmatch(r"\|[\s:|-]+\|?", line.strip()):
            continue   # the alignment row
        if not header_seen:
            header_seen = True
            continue
        cells = _cells(line)
        if section == "totals" and len(cells) >= 2:
            snap.totals[cells[0]] = cells[1]
        elif section == "layers":
            cells += [""] * (len(LAYER_COLUMNS) - len(cells))
            snap.rows.append({key: cells[i] for i, (key, _) in enumerate(LAYER_COLUMNS)})
    return snap


def _change(key: str, old: str, new: str) -> str:
    if key in NUMERIC or (old.lstrip("-").isdigit() and new.lstrip("-").isdigit()):
        try:
            delta = int(new) - int(old)
            return f"{key} {int(old):,} -> {int(new):,} ({delta:+,})"
        except ValueError:
            pass
    return f"{key} '{old}' -> '{new}'"


def diff(old: Snapshot, new: Snapshot) -> list[str]:
    """Readable differences, totals first, then layer by layer (empty when equal)."""
    out: list[str] = []
    totals = [(k, old.totals.get(k), new.totals.get(k)) for k in dict.fromkeys([*old.totals, *new.totals])]
    changed_totals = [(k, o, n) for k, o, n in totals if o != n]
    if changed_totals:
        out.append("totals:")
        for k, o, n in changed_totals:
            out.append("  " + (_change(k, o, n) if o is not None and n is not None else f"{k}: {o!r} -> {n!r}"))
    keys_old = [(r["layer"], r["type"]) for r in old.rows]
    keys_new = [(r["layer"], r["type"]) for r in new.rows]
    layer_lines: list[str] = []
    counts = {"changed": 0, "added": 0, "removed": 0}

    def compare(a: dict[str, str], b: dict[str, str]) -> None:
        changes = [_change(key, a[key], b[key]) for key, _ in LAYER_COLUMNS if key != "layer" and a[key] != b[key]]
        if a["layer"] != b["layer"]:
            changes.insert(0, _change("layer", a["layer"], b["layer"]))
        if changes:
            counts["changed"] += 1
            layer_lines.append(f"  ~ {b['layer']} ({b['type']}): " + "; ".join(changes))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, keys_old, keys_new, autojunk=False).get_opcodes():
        if tag == "equal":
            for a, b in zip(old.rows[i1:i2], new.rows[j1:j2]):
                compare(a, b)
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for a, b in zip(old.rows[i1:i1 + paired], new.rows[j1:j1 + paired]):
            compare(a, b)
        for a in old.rows[i1 + paired:i2]:
            counts["removed"] += 1
            layer_lines.append(f"  - {a['layer']} ({a['type']}) output {a['output']}, params {int(a['params']):,}, MACs {int(a['macs']):,}")
        for b in new.rows[j1 + paired:j2]:
            counts["added"] += 1
            layer_lines.append(f"  + {b['layer']} ({b['type']}) output {b['output']}, params {int(b['params']):,}, MACs {int(b['macs']):,}")
    if layer_lines:
        out.append(f"layers: {counts['changed']} changed, {counts['added']} added, {counts['removed']} removed "
                   f"(of {len(old.rows)} -> {len(new.rows)}):")
        out += layer_lines[:MAX_LAYER_LINES]
        if len(layer_lines) > MAX_LAYER_LINES:
            out.append(f"  ... and {len(layer_lines) - MAX_LAYER_LINES} more")
    return out


def baseline_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.md"
