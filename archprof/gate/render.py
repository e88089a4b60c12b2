"""Gate results for people and machines: a terminal table with details, markdown for a PR page
(``$GITHUB_STEP_SUMMARY``: one table, the per-layer diffs folded away), or JSON."""
from __future__ import annotations

import json

from archprof.gate.check import GateResult
from archprof.text import human, markdown_table, rich_rows

HEADERS = ["source", "status", "Δparams", "ΔMACs", "Δpeak memory", "budgets", "speed"]
RIGHT = ("Δparams", "ΔMACs", "Δpeak memory")
STATUS = {"pass": "pass", "changed": "CHANGED", "missing": "NO BASELINE", "written": "blessed", "unchanged": "blessed (unchanged)"}


def _delta(result: GateResult, key: str, unit: str = "") -> str:
    if key not in result.deltas:
        return ""
    value = result.deltas[key]
    return "0" if value == 0 else ("+" if value > 0 else "-") + human(abs(value), unit)


def _budgets(result: GateResult) -> str:
    if not result.budgets:
        return ""
    broken = [b.budget.text for b in result.budgets if not b.ok]
    return "broken: " + ", ".join(broken) if broken else f"{len(result.budgets)} held"


def _speed(result: GateResult) -> str:
    return ", ".join(f"{r.mode} {r.status}" + (f" {r.median / r.baseline - 1:+.0%}" if r.baseline else "") for r in result.speed)


def _status(result: GateResult) -> str:
    """The baseline's status, or FAIL when the figures hold but a budget or the speed does not."""
    return STATUS[result.status] if result.ok or result.status in ("changed", "missing") else "FAIL"


def cells(result: GateResult) -> list[str]:
    return [result.source, _status(result), _delta(result, "params"), _delta(result, "macs"),
            _delta(result, "peak_activation_bytes", "B"), _budgets(result), _speed(result)]


def details(result: GateResult) -> list[str]:
    """The per-layer diff, broken budgets, speed figures and notes of one result."""
    lines = []
    if result.diff:
        lines += result.diff.lines
    if result.status == "changed" and result.bless_hint:
        lines.append(f"if the change is intended, re-bless with: {result.bless_hint}")
    if result.status == "missing":
        lines.append(f"no baseline at {result.path}" + (f"; record it with: {result.bless_hint}" if result.bless_hint else ""))
    lines += [b.describe() for b in result.budgets if not b.ok]
    lines += [f"speed {r.message}" for r in result.speed if r.message]
    lines += [f"note: {n}" for n in result.notes]
    return lines


def summary(results: list[GateResult]) -> str:
    failed = [r for r in results if not r.ok]
    if not failed:
        return f"archprof gate: all {len(results)} model(s) hold"
    return f"archprof gate: {len(failed)} of {len(results)} model(s) fail: " + ", ".join(r.name for r in failed)


def render(results: list[GateResult], fmt: str, width: int | None = None) -> str:
    if fmt == "json":
        return json.dumps({"ok": all(r.ok for r in results), "results": [r.as_dict() for r in results]}, indent=2) + "\n"
    rows = [cells(r) for r in results]
    used = [i for i, h in enumerate(HEADERS) if i < 2 or any(row[i] for row in rows)]
    headers, rows = [HEADERS[i] for i in used], [[row[i] for i in used] for row in rows]
    if fmt == "md":
        out = ["## archprof gate", "", summary(results), "", markdown_table(headers, rows, right=RIGHT)]
        for r in results:
            lines = details(r)
            if lines:
                title = f"{r.name}: {STATUS[r.status]}" + ("" if r.ok else ", failing")
                # unindented, so that GitHub colours added (+) and removed (-) layers
                out += [f"<details><summary>{title}</summary>", "", "```diff", *(line.strip() for line in lines), "```", "",
                        "</details>", ""]
        return "\n".join(out).rstrip() + "\n"
    footer = []
    for r in results:
        lines = details(r)
        if lines:
            footer += [f"{r.name} ({r.path}):", *(f"  {line}" for line in lines)]
    footer.append(summary(results))
    return rich_rows(headers, rows, "archprof gate", RIGHT, footer=footer, wrap_footer=False)
