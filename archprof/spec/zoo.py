"""The bundled spec zoo as a table of paper figures (no model is built, torch is not imported)."""
from __future__ import annotations

from archprof.spec.load import load_spec, zoo_names
from archprof.spec.plan import declared_input
from archprof.spec.schema import Figure


def _figure(figures: list[Figure], metric: str) -> str:
    for f in figures:
        if f.metric == metric and f.check:
            unit = "" if f.unit in ("count", "%") else f" {f.unit}"
            value = f"{f.value:,.0f}" if f.unit == "count" else f"{f.value:g}"
            return f"{value}{unit}"
    return ""


def rows() -> list[dict]:
    out = []
    for name in zoo_names():
        spec = load_spec(name)
        ref = f"{spec.reference.library}:{spec.reference.model}" if spec.reference else ""
        out.append({
            "spec": name,
            "family": spec.family or "",
            "input": "x".join(str(d) for d in declared_input(spec)),
            "params": _figure(spec.figures, "params"),
            "MACs": _figure(spec.figures, "macs"),
            "top-1 %": _figure(spec.figures, "top1"),
            "top-5 %": _figure(spec.figures, "top5"),
            "reference": ref,
        })
    return out


def table():
    import pandas as pd

    return pd.DataFrame.from_records(rows())
