"""Design-space sweeps: every combination of a grid of spec parameters, resolved and costed without torch.

Each variant is the spec with those parameters (``load_spec(..., params=...)``), resolved at the
input and counted by :func:`~archprof.analysis.fast.totals_fast`, so one variant costs
milliseconds and a grid of a thousand runs in seconds, spread over the cores. Variants the spec
rejects (a width that ``groups`` does not divide, an input too small for the depth) are counted
and listed with their reason, never fatal. ``where`` keeps the rows whose expression (in the spec
expression language, over the grid keys and the totals) is true; the Pareto front is the set of
rows that no other row beats on both MACs and parameters.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from archprof.errors import ArchprofError
from archprof.spec import expr

MAX_VARIANTS = 100_000
PARALLEL_FROM = 64            # smaller grids are not worth starting processes for
TOTALS = ("params", "macs", "flops", "activation_bytes")
COLUMNS = (*TOTALS, "flops_ratio")   # flops_ratio: the variant's FLOPs over the spec's own (its parameters as written)


@dataclass
class Sweep:
    source: str
    grid: dict[str, list]
    input_shape: tuple[int, ...] | None
    rows: list[dict[str, Any]]                 # the variants kept: grid values, totals, "pareto"
    rejected: list[dict[str, Any]]             # grid values and "error"
    filtered: int = 0                          # feasible variants that ``where`` left out
    cut: int = 0                               # variants kept but past ``top``
    where: str | None = None
    variants: int = 0
    notes: list[str] = field(default_factory=list)


def parse_grid(pairs: tuple[str, ...] | list[str]) -> dict[str, list]:
    """``KEY=EXPR`` pairs, each EXPR a list in the spec expression language (``list(range(16, 80, 2))``)."""
    grid: dict[str, list] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ArchprofError(f"--grid must look like KEY=EXPR, e.g. 'base_width=[32, 64]', got '{pair}'")
        if key in grid:
            raise ArchprofError(f"--grid {key} is given twice")
        try:
            values = expr.evaluate(text, {"true": True, "false": False})   # YAML's spelling, as --param takes it
        except expr.ExprError as exc:
            raise ArchprofError(f"--grid {key}: {exc}") from None
        if not isinstance(values, (list, tuple)) or not values:
            raise ArchprofError(f"--grid {key}: expected a non-empty list, got {values!r}")
        grid[key] = list(values)
    if not grid:
        raise ArchprofError("give at least one --grid KEY=EXPR")
    return grid


def sweep(source: str, grid: dict[str, list], *, params: dict | None = None, input_shape: tuple[int, ...] | None = None,
          batch: int = 1, dtype: str = "fp32", where: str | None = None, sort: str | None = "macs", top: int | None = None,
          jobs: int | None = None) -> Sweep:
    """Cost every combination of ``grid`` (on top of ``params``) of the spec ``source``."""
    from archprof import load_spec

    base = load_spec(source, params=params or None)   # the spec itself must load: its mistakes are not variants
    unknown = sorted(set(grid) - set(base.params))
    if unknown:
        raise ArchprofError(f"--grid {unknown[0]}: {base.name} has no parameter of that name (parameters: {', '.join(base.params)})")
    combos = _combinations(grid)
    if where is not None:
        _check_expression(where, [*grid, *COLUMNS])
    job = (str(source), dict(params or {}), input_shape, batch, dtype)
    try:
        results = _run(job, [{}, *combos], jobs)
    except ArchprofError as exc:
        if type(exc).__name__ != "NoCostRule":
            raise
        raise ArchprofError(f"{exc.message}; a sweep costs its variants without torch, so each op needs a cost() "
                            "(specs/README.md, 'Your own ops')") from None
    own, results = results[0], results[1:]
    rows, rejected = [], []
    for values, result in zip(combos, results):
        if isinstance(result, str):
            rejected.append({**values, "error": result})
        else:
            ratio = result["flops"] / own["flops"] if isinstance(own, dict) and own["flops"] else None
            rows.append({**values, **result, "flops_ratio": ratio})
    kept = [r for r in rows if where is None or _holds(where, r)]
    filtered = len(rows) - len(kept)
    _mark_pareto(kept)
    if sort:
        key, reverse = sort.removeprefix("-"), sort.startswith("-")
        if kept and key not in kept[0]:
            raise ArchprofError(f"--sort {key}: not a column (columns: {', '.join(kept[0])})")
        kept.sort(key=lambda r: _sort_key(r[key]), reverse=reverse)
    cut = max(0, len(kept) - top) if top is not None else 0
    kept = kept[:top] if top is not None else kept
    return Sweep(base.name, grid, input_shape, kept, rejected, filtered, cut, where, len(combos))


def _combinations(grid: dict[str, list]) -> list[dict[str, Any]]:
    count = 1
    for values in grid.values():
        count *= len(values)
        if count > MAX_VARIANTS:
            raise ArchprofError(f"the grid has more than {MAX_VARIANTS:,} variants; narrow it or sweep in parts")
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def _run(job: tuple, combos: list[dict], jobs: int | None) -> list:
    workers = jobs if jobs is not None else (os.cpu_count() or 1) if len(combos) >= PARALLEL_FROM else 1
    workers = max(1, min(workers, len(combos)))
    if workers == 1:
        return [_variant(job, values) for values in combos]
    chunks = [combos[i::workers] for i in range(workers)]
    # fork, where there is one: the workers inherit the loaded specs and plugins instead of importing them again
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = list(pool.map(_variants, [job] * workers, chunks))
    results: list = [None] * len(combos)
    for i, part in enumerate(parts):
        results[i::workers] = part
    return results


def _variants(job: tuple, combos: list[dict]) -> list:
    return [_variant(job, values) for values in combos]


def _variant(job: tuple, values: dict) -> dict | str:
    """The totals of one variant, or the one-line reason the spec rejects it."""
    from archprof import load_spec
    from archprof.analysis.fast import totals_fast
    from archprof.spec.plan import resolve

    source, params, input_shape, batch, dtype = job
    try:
        plan = resolve(load_spec(source, params={**params, **values}), input_shape)
        return totals_fast(plan.root, plan.input_shape, batch, dtype)
    except ArchprofError as exc:
        if type(exc).__name__ == "NoCostRule":
            raise
        return " ".join(str(exc).split())


def _check_expression(text: str, names: list[str]) -> None:
    try:
        node = expr.parse(text)
    except expr.ExprError as exc:
        raise ArchprofError(f"--where: {exc}") from None
    unknown = sorted(expr.names(node) - set(names))
    if unknown:
        raise ArchprofError(f"--where: unknown name '{unknown[0]}' (names: {', '.join(names)})")


def _holds(text: str, row: dict) -> bool:
    try:
        value = expr.evaluate(text, row)
    except expr.ExprError as exc:
        raise ArchprofError(f"--where: {exc}") from None
    if not isinstance(value, bool):
        raise ArchprofError(f"--where must be true or false, got {value!r}")
    return value


def _mark_pareto(rows: list[dict]) -> None:
    """``pareto``: no other row has fewer or equal MACs and parameters with one of them fewer."""
    best_params = None
    for row in sorted(rows, key=lambda r: (r["macs"], r["params"])):
        row["pareto"] = best_params is None or row["params"] < best_params
        if row["pareto"]:
            best_params = row["params"]


def _sort_key(value: Any) -> Any:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def render(result: Sweep, fmt: str, *, width: int | None = None, color: bool = False) -> str:
    """The kept rows as a table for people (figures in one precision per column), or every figure in full."""
    import csv
    import io
    import json

    from archprof.text import human, markdown_table, rich_rows

    keys = list(result.grid)
    headers = [*keys, "params", "MACs", "FLOPs", "FLOPs / spec", "activations", "pareto"]
    figures = ("params", "MACs", "FLOPs", "FLOPs / spec", "activations")
    if fmt == "json":
        return json.dumps(result.rows, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*keys, *COLUMNS, "pareto"])
        writer.writerows([[*(_value_text(r[k]) for k in keys), *(r[c] for c in COLUMNS), r["pareto"]] for r in result.rows])
        return buffer.getvalue()
    if fmt == "md":
        rows = [[*(_value_text(r[k]) for k in keys), r["params"], r["macs"], r["flops"], _ratio_text(r["flops_ratio"]),
                 r["activation_bytes"], "yes" if r["pareto"] else ""] for r in result.rows]
        return markdown_table(headers, rows, right=figures)
    cells = [[*(_value_text(r[k]) for k in keys), human(r["params"]), human(r["macs"]), human(r["flops"]), _ratio_text(r["flops_ratio"]),
              human(r["activation_bytes"], "B"), "*" if r["pareto"] else ""] for r in result.rows]
    return rich_rows(headers, cells, f"archprof sweep {result.source}", figures,
                     footer=summary(result), width=width, drop=("FLOPs", "activations", "FLOPs / spec"), color=color)


def _ratio_text(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.3f}x"


def summary(result: Sweep) -> list[str]:
    """What was swept and what became of each variant, for the table's footer and stderr."""
    size = " x ".join(f"{k} ({len(v)})" for k, v in result.grid.items())
    lines = [f"{result.variants:,} variants of {result.source} ({size}), costed without torch"
             + (f" at input {'x'.join(map(str, result.input_shape))}" if result.input_shape else "")
             + f"; FLOPs / spec is over {result.source}'s own FLOPs"]
    kept = len(result.rows)
    parts = [f"{kept:,} shown"]
    if result.cut:
        parts.append(f"{result.cut:,} more past --top")
    if result.filtered:
        parts.append(f"{result.filtered:,} left out by --where {result.where}")
    if result.rejected:
        parts.append(f"{len(result.rejected):,} rejected by the spec")
    lines.append(" · ".join(parts) + (" · * marks the Pareto front (no other variant has fewer MACs and params)" if kept else ""))
    return lines


def rejected_lines(result: Sweep, limit: int = 10) -> list[str]:
    """One line per rejected variant (the first ``limit``): its values and the spec's reason."""
    lines = [f"rejected {', '.join(f'{k}={_value_text(r[k])}' for k in result.grid)}: {r['error']}" for r in result.rejected[:limit]]
    if len(result.rejected) > limit:
        lines.append(f"... and {len(result.rejected) - limit:,} more rejected variants (--format json lists the kept ones; "
                     "narrow the grid to see the others)")
    return lines


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
