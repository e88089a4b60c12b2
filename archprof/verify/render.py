"""Display of ``archprof verify``: a table that fits the screen, with its sources as numbered notes,
a totals line and a legend; markdown keeps every source in its row."""
from __future__ import annotations

import json

from archprof.verify.checks import ESTIMATE, FAIL, INFO, PASS, Check

HEADERS = ["spec", "check", "status", "ours", "expected", "tolerance", "source", "note"]
LEGEND = (f"{PASS}: measured within the tolerance · {FAIL}: measured outside it · "
          f"{INFO}: a published figure nothing here measures, listed with its source")
SHORT_CHECKS = {"MACs (multiply-accumulates)": "MACs", "memory (inference peak, saved for backward)": "memory"}


ESTIMATE_LEGEND = f"{ESTIMATE}: measured on a subset (--limit), with its 95% interval"


def _legend(rows: list[Check]) -> str:
    return LEGEND + (f" · {ESTIMATE_LEGEND}" if any(r.status == ESTIMATE for r in rows) else "")


def totals_line(rows: list[Check]) -> str:
    shown = (PASS, FAIL, INFO, ESTIMATE) if any(r.status == ESTIMATE for r in rows) else (PASS, FAIL, INFO)
    counts = {status: sum(r.status == status for r in rows) for status in shown}
    specs = len(dict.fromkeys(r.spec for r in rows))
    return f"{len(rows)} checks of {specs} spec{'s' if specs != 1 else ''}: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def _cells(r: Check, source: str) -> list[str]:
    tolerance = "" if r.status == INFO else r.tolerance   # nothing was measured, so nothing has a tolerance
    return [r.spec, SHORT_CHECKS.get(r.check, r.check), r.status, r.ours, r.paper, tolerance, source, r.note]


def render(rows: list[Check], fmt: str, *, width: int | None = None, columns: list[str] | None = None, color: bool = False) -> str:
    if fmt == "json":
        return json.dumps([r.as_dict() for r in rows], indent=2) + "\n"
    if fmt == "md":
        from archprof.text import markdown_table

        table = markdown_table(HEADERS, [_cells(r, r.source) for r in rows])
        return f"### archprof verify\n\n{totals_line(rows)}.\n\n{table}\n{_legend(rows).replace(' · ', '; ')}. MACs: multiply-accumulates.\n"
    from archprof.text import rich_rows

    numbers: dict[str, int] = {}   # each distinct source once, as a numbered note under the table
    cells = [_cells(r, f"[{numbers.setdefault(r.source, len(numbers) + 1)}]") for r in rows]
    notes = [f"[{n}] {source}" for source, n in numbers.items()]
    return rich_rows(HEADERS, cells, "archprof verify", footer=[totals_line(rows), _legend(rows), "MACs: multiply-accumulates", *notes],
                     width=width, drop=("note", "tolerance"), columns=columns, color=color)
