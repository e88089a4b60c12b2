"""The bundled spec zoo as a table of paper figures (no model is built; neither torch nor pandas is imported)."""
from __future__ import annotations

from archprof.spec.load import load_spec, zoo_names
from archprof.spec.plan import declared_input
from archprof.spec.schema import Figure

# One unit and precision per column, whatever precision each paper printed (89 M, 86,567,656).
COLUMNS = {"params": ("params (M)", 1e6, 2), "macs": ("MACs (G)", 1e9, 2), "top1": ("top-1 %", 1, 2), "top5": ("top-5 %", 1, 2)}
HEADERS = ["spec", "family", "input", *(h for h, _, _ in COLUMNS.values()), "dataset", "reference"]
NUMERIC = tuple(h for h, _, _ in COLUMNS.values())


def _checked(figures: list[Figure], metric: str) -> Figure | None:
    return next((f for f in figures if f.metric == metric and f.check), None)


def rows() -> list[dict]:
    """One row per bundled spec; figures as numbers in the columns' units (None where the paper has none)."""
    out = []
    for name in zoo_names():
        spec = load_spec(name)
        row = {"spec": name, "family": spec.family or "", "input": "x".join(str(d) for d in declared_input(spec))}
        for metric, (header, unit, _) in COLUMNS.items():
            figure = _checked(spec.figures, metric)
            row[header] = None if figure is None else figure.scaled() / unit
        accuracy = _checked(spec.figures, "top1") or _checked(spec.figures, "top5")
        row["dataset"] = accuracy.dataset or "" if accuracy else ""
        row["reference"] = f"{spec.reference.library}:{spec.reference.model}" if spec.reference else ""
        out.append(row)
    return out


def display(row: dict) -> list[str]:
    """A row for people: each figure at its column's precision."""
    digits = {h: d for h, _, d in COLUMNS.values()}
    return [("" if row[h] is None else f"{row[h]:,.{digits[h]}f}") if h in digits else str(row[h]) for h in HEADERS]


def table():
    """The zoo as a pandas DataFrame (for notebooks)."""
    import pandas as pd

    return pd.DataFrame.from_records(rows(), columns=HEADERS)
