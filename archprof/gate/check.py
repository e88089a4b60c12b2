"""One gate of one model: a fresh analysis against its baseline file, its budgets, and optionally its speed.

The same function serves ``archprof gate``, the pytest fixture ``archprof_gate`` and archprof's own
regression gates, so the three write and read the same files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archprof.errors import ArchprofError
from archprof.files import write_text_atomic
from archprof.gate import snapshot
from archprof.spec import budgets as budget_rules


@dataclass
class GateOptions:
    baselines: Path
    bless: bool = False
    budgets: tuple[str, ...] = ()
    tolerances: dict[str, float] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None
    batch: int = 1
    dtype: str = "fp32"
    speed: Any = None            # archprof.gate.speed.SpeedOptions, or None for no speed gate


@dataclass
class GateResult:
    name: str
    source: str
    path: Path
    status: str                  # pass | changed | missing | written | unchanged (the last two under --bless)
    diff: snapshot.Diff | None = None
    deltas: dict[str, int] = field(default_factory=dict)
    budgets: list[budget_rules.BudgetCheck] = field(default_factory=list)
    speed: list[Any] = field(default_factory=list)  # archprof.gate.speed.SpeedRun
    notes: list[str] = field(default_factory=list)
    bless_hint: str = ""

    @property
    def ok(self) -> bool:
        return (self.status in ("pass", "written", "unchanged") and all(b.ok for b in self.budgets)
                and all(r.ok for r in self.speed))

    def failures(self) -> list[str]:
        """What broke, one entry per reason, for people (the assertion message of the pytest fixture)."""
        out = []
        if self.status == "missing":
            out.append(f"{self.name}: no baseline at {self.path}; record it with: {self.bless_hint}")
        elif self.status == "changed":
            out.append(f"{self.name}: the analysis differs from {self.path}:\n" + "\n".join(self.diff.lines)
                       + f"\nIf the change is intended, re-bless with: {self.bless_hint}")
        out += [b.describe() for b in self.budgets if not b.ok]
        for run in self.speed:
            if run.status == "missing":
                out.append(f"{self.name}: {run.message}; record it with: {self.bless_hint}")
            elif not run.ok:
                out.append(f"{self.name}: speed {run.message}")
        return out + ([f"note: {n}" for n in self.notes] if out else [])

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "baseline": str(self.path), "status": self.status, "ok": self.ok,
                "deltas": self.deltas, "diff": self.diff.lines if self.diff else [],
                "drifted_within_tolerance": self.diff.drifted if self.diff else 0,
                "budgets": [b.as_dict() for b in self.budgets], "speed": [r.as_dict() for r in self.speed], "notes": self.notes}


DELTA_KEYS = {"params": "params", "macs": "macs", "peak_activation_bytes": "peak_activation_bytes"}


def _deltas(old: snapshot.Snapshot, new: snapshot.Snapshot) -> dict[str, int]:
    out = {}
    for key in DELTA_KEYS:
        try:
            out[key] = int(new.totals[key]) - int(old.totals[key])
        except (KeyError, ValueError):
            continue
    return out


def run_gate(source: Any, options: GateOptions, *, name: str | None = None, bless_hint: str = "",
             params: dict[str, Any] | None = None) -> GateResult:
    """Analyse ``source`` (anything ``analyze`` takes), compare or bless, check budgets and speed."""
    from archprof.analysis.sources import open_source
    from archprof.spec import load_spec

    if params and isinstance(source, (str, Path)):
        source = load_spec(source, params=params)
    src = open_source(source, options.input_shape)   # a spec's mistakes are found here, before torch is imported
    from archprof.analysis.engine import analyze

    name = snapshot.safe_name(name or src.label)
    analysis = analyze(src, input_shape=options.input_shape, batch=options.batch, dtype=options.dtype)
    fresh = snapshot.take(analysis, name)
    path = snapshot.baseline_path(options.baselines, name)
    result = GateResult(name, analysis.source, path, "missing", bless_hint=bless_hint)
    old = snapshot.parse(_read(path), name) if path.is_file() else None
    if old is not None:
        result.diff = snapshot.diff(old, fresh, options.tolerances)
        result.deltas = _deltas(old, fresh)
        result.status = "changed" if result.diff else "pass"
        note = snapshot.version_note(old, fresh)
        if note and result.diff:
            result.notes.append(note)
        if result.diff.drifted:
            result.notes.append(f"{result.diff.drifted} figure(s) moved within the tolerances")
    if options.bless:
        text = snapshot.render(fresh)
        if old is None or result.diff or _read(path) != text:
            _write(path, text)
            result.status = "written"
        else:
            result.status = "unchanged"
    texts = list(src.spec.budgets if src.spec is not None else []) + list(options.budgets)
    try:
        rules = budget_rules.parse_all(texts)
    except budget_rules.BudgetError as exc:
        raise ArchprofError(str(exc)) from None
    result.budgets = [rule.check(analysis.totals) for rule in rules]
    if options.speed is not None:
        result.speed = _speed(src, analysis, name, options)
    return result


def _speed(src, analysis, name: str, options: GateOptions) -> list:
    from archprof.gate import speed

    runs = speed.measure(src, analysis.input_shape, options.speed)
    path = speed.baseline_path(options.baselines, name)
    stored = speed.load(path)
    for run in runs:
        speed.compare(run, stored.get("records", {}).get(run.key), path)
    if options.bless:
        _ensure_folder(options.baselines)
        speed.write(path, name, analysis.source, analysis.input_shape, runs, stored)
        for run in runs:
            run.status = "written"
    return runs


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchprofError(f"{path}: cannot read the baseline ({getattr(exc, 'strerror', None) or exc})") from None


def _ensure_folder(folder: Path) -> None:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchprofError(f"--baselines {folder}: cannot create the folder ({exc.strerror})") from None


def _write(path: Path, text: str) -> None:
    _ensure_folder(path.parent)
    write_text_atomic(path, text)
