"""Snapshots of an analysis: one reviewable markdown file per model, and the per-layer diff against it.

A snapshot holds where it came from (source, input, batch, dtype, archprof and torch versions),
the totals and, per layer, the output shape, params, MACs, FLOPs, activation bytes and receptive
field, as exact integers, so the diff of a baseline in review shows exactly what moved. Checking
compares the figures only: a baseline recorded under other versions still passes when they agree,
and a failure says when the versions differ (op decompositions change between torch releases).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archprof.analysis.rows import receptive_field_text
from archprof.spec.budgets import ALIASES, FIELDS

LAYER_COLUMNS = (("layer", "layer"), ("type", "type"), ("output", "output"), ("params", "params"), ("macs", "MACs"),
                 ("flops", "FLOPs"), ("activation_bytes", "activation bytes"), ("receptive_field", "receptive field"))
NUMERIC = {"params", "macs", "flops", "activation_bytes"}
TOTAL_KEYS = ("params", "trainable_params", "macs", "flops", "activation_bytes", "input_bytes", "peak_activation_bytes",
              "weight_bytes", "saved_activation_bytes", "train_memory_sgd_bytes", "train_memory_adamw_bytes")
ABOUT_KEYS = ("source", "input", "batch", "dtype", "archprof", "torch")
VERSION_KEYS = ("archprof", "torch")
MAX_LAYER_LINES = 40
INTRO = ("Analysis baseline written by archprof (meta device, exact integers). `archprof gate` and the pytest "
         "fixture `archprof_gate` compare a fresh analysis with it; after an intended change, rewrite it with "
         "`--bless` (`archprof gate`) or `--archprof-bless` (pytest) and review the diff like code.")
# Windows cannot create files with these names, whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class Snapshot:
    name: str
    about: dict[str, str] = field(default_factory=dict)
    totals: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, str]] = field(default_factory=list)


def safe_name(label: str) -> str:
    """A file name for a source label that is valid everywhere (no ``:``, ``/``, spaces or reserved
    Windows names): ``torchvision:resnet18`` -> ``torchvision-resnet18``, ``src/net.py:make`` -> ``net-make``."""
    text = str(label)
    if ".py:" in text:
        path, _, attr = text.rpartition(":")
        text = f"{Path(path).stem}-{attr}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"
    return f"{name}_" if name.split(".")[0].lower() in _RESERVED else name


def _shape(shape: Any) -> str:
    if shape is None:
        return ""
    if shape and isinstance(shape[0], (tuple, list)):
        return ", ".join(_shape(s) for s in shape)
    return "x".join(str(int(d)) for d in shape)


def versions() -> dict[str, str]:
    import torch

    import archprof

    return {"archprof": archprof.__version__, "torch": torch.__version__}


def take(analysis, name: str) -> Snapshot:
    """The snapshot of an :class:`~archprof.analysis.result.Analysis`."""
    a = analysis
    t = a.totals
    totals = {k: str(int(t[k])) for k in TOTAL_KEYS}
    totals["receptive_field"] = receptive_field_text(t.get("receptive_field"))
    totals["input_sizes"] = str(a.input_constraints.get("description", ""))
    totals["uncounted_ops"] = ", ".join(f"{k} x{v}" for k, v in sorted(a.uncounted_ops.items())) or "none"
    rows = [{
        "layer": str(r["name"]), "type": str(r["type"]), "output": _shape(r["output_shape"]),
        "params": str(int(r["params"])), "macs": str(int(r["macs"])), "flops": str(int(r["flops"])),
        "activation_bytes": str(int(r["activation_bytes"])), "receptive_field": str(r["receptive_field"] or ""),
    } for r in a.records]
    about = {"source": a.source, "input": "x".join(map(str, a.input_shape)), "batch": str(a.batch), "dtype": a.dtype, **versions()}
    return Snapshot(name, about, totals, rows)


def _cell(value: str) -> str:
    return value.replace("|", "\\|")


def render(snap: Snapshot) -> str:
    lines = [f"# {snap.name}", "", INTRO, "", "| about | value |", "|:--|:--|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in snap.about.items()]
    lines += ["", "## Totals", "", "| total | value |", "|:--|--:|"]
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
    """Read a baseline file back (tables only; prose is ignored)."""
    snap = Snapshot(name)
    section = "about"
    header_seen = False
    for line in text.splitlines():
        if line.startswith("## "):
            section, header_seen = line[3:].strip().lower(), False
            continue
        if not line.startswith("|") or re.fullmatch(r"\|[\s:|-]+\|?", line.strip()):
            continue   # prose, or a table's alignment row
        if not header_seen:
            header_seen = True
            continue
        cells = _cells(line)
        if section in ("about", "totals") and len(cells) >= 2:
            getattr(snap, section)[cells[0]] = cells[1]
        elif section == "layers":
            cells += [""] * (len(LAYER_COLUMNS) - len(cells))
            snap.rows.append({key: cells[i] for i, (key, _) in enumerate(LAYER_COLUMNS)})
    return snap


def parse_tolerances(texts: list[str]) -> dict[str, float]:
    """``['macs=0.5%', 'activations=1%']`` -> ``{'macs': 0.005, 'activation_bytes': 0.01}``, keyed by the
    snapshot's own column and total names (``all=PCT`` applies to every figure)."""
    out: dict[str, float] = {}
    for text in texts:
        key, sep, value = str(text).partition("=")
        key, value = key.strip(), value.strip().removesuffix("%").strip()
        name = key if key in FIELDS or key == "all" else ALIASES.get(key)
        try:
            fraction = float(value) / 100
        except ValueError:
            fraction = -1.0
        if not sep or name is None or not 0 <= fraction < 10:
            raise ValueError(f"--tolerance must look like FIELD=PCT, e.g. macs=0.5% (fields: all, {', '.join(FIELDS)}), got '{text}'")
        target = FIELDS[name][0] if name != "all" else "all"
        out[target] = fraction
    return out


def _tolerance(key: str, tolerances: dict[str, float]) -> float:
    if key in tolerances:
        return tolerances[key]
    if key == "train_memory_bytes" or key.startswith("train_memory_"):
        return tolerances.get("train_memory_bytes", tolerances.get("all", 0.0))
    return tolerances.get("all", 0.0)


def _change(key: str, old: str, new: str) -> str:
    try:
        o, n = int(old), int(new)
    except ValueError:
        return f"{key} '{old}' -> '{new}'"
    return f"{key} {o:,} -> {n:,} ({n - o:+,})"


def _drifted(key: str, old: str, new: str, tolerances: dict[str, float]) -> bool:
    """A numeric change within the tolerance for its figure (never a change of shape or type)."""
    allowed = _tolerance(key, tolerances)
    try:
        o, n = int(old), int(new)
    except ValueError:
        return False
    return allowed > 0 and abs(n - o) <= allowed * abs(o)


@dataclass
class Diff:
    """What changed between a baseline and a fresh snapshot; ``lines`` is empty when the figures agree."""

    lines: list[str]
    drifted: int = 0       # numeric changes accepted by a tolerance
    changed: int = 0       # layers changed
    added: int = 0
    removed: int = 0

    def __bool__(self) -> bool:
        return bool(self.lines)


def diff(old: Snapshot, new: Snapshot, tolerances: dict[str, float] | None = None) -> Diff:
    """Readable differences, totals first, then layer by layer."""
    tolerances = tolerances or {}
    out = Diff([])
    if old.about.get("input") and new.about.get("input") and old.about["input"] != new.about["input"]:
        out.lines.append(f"input: the baseline is at {old.about['input']}, this analysis at {new.about['input']}")
    totals = []
    for k in dict.fromkeys([*old.totals, *new.totals]):
        o, n = old.totals.get(k), new.totals.get(k)
        if o == n:
            continue
        if o is not None and n is not None and _drifted(k, o, n, tolerances):
            out.drifted += 1
            continue
        totals.append("  " + (_change(k, o, n) if o is not None and n is not None else f"{k}: {o!r} -> {n!r}"))
    if totals:
        out.lines += ["totals:", *totals]
    keys_old = [(r["layer"], r["type"]) for r in old.rows]
    keys_new = [(r["layer"], r["type"]) for r in new.rows]
    layer_lines: list[str] = []

    def compare(a: dict[str, str], b: dict[str, str]) -> None:
        changes = []
        for key, _ in LAYER_COLUMNS:
            if key == "layer" or a[key] == b[key]:
                continue
            if key in NUMERIC and _drifted(key, a[key], b[key], tolerances):
                out.drifted += 1
                continue
            changes.append(_change(key, a[key], b[key]))
        if a["layer"] != b["layer"]:
            changes.insert(0, _change("layer", a["layer"], b["layer"]))
        if changes:
            out.changed += 1
            layer_lines.append(f"  ~ {b['layer']} ({b['type']}): " + "; ".join(changes))

    def summary(r: dict[str, str]) -> str:
        return f"{r['layer']} ({r['type']}) output {r['output']}, params {_int(r['params']):,}, MACs {_int(r['macs']):,}"

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, keys_old, keys_new, autojunk=False).get_opcodes():
        paired = (i2 - i1) if tag == "equal" else min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for a, b in zip(old.rows[i1:i1 + paired], new.rows[j1:j1 + paired]):
            compare(a, b)
        for a in old.rows[i1 + paired:i2]:
            out.removed += 1
            layer_lines.append(f"  - {summary(a)}")
        for b in new.rows[j1 + paired:j2]:
            out.added += 1
            layer_lines.append(f"  + {summary(b)}")
    if layer_lines:
        out.lines.append(f"layers: {out.changed} changed, {out.added} added, {out.removed} removed "
                         f"(of {len(old.rows)} -> {len(new.rows)}):")
        out.lines += layer_lines[:MAX_LAYER_LINES]
        if len(layer_lines) > MAX_LAYER_LINES:
            out.lines.append(f"  ... and {len(layer_lines) - MAX_LAYER_LINES} more")
    return out


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def version_note(old: Snapshot, new: Snapshot) -> str | None:
    """Says so when the baseline was recorded under other archprof/torch versions than the running ones."""
    differ = [k for k in VERSION_KEYS if old.about.get(k) and old.about.get(k) != new.about.get(k)]
    if not differ:
        return None
    was = ", ".join(f"{k} {old.about[k]}" for k in differ)
    now = ", ".join(f"{k} {new.about.get(k)}" for k in differ)
    return (f"the baseline was recorded with {was}; this run uses {now}. Op decompositions can change between "
            "releases: accept small drift with --tolerance FIELD=PCT, or re-bless")


def baseline_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.md"
