"""Budgets: upper (or lower) limits on an analysis's totals, written ``params<=5M`` or ``peak_activation<64MiB``.

A spec may declare them (``budgets: [...]``), ``archprof gate --budget`` adds more, and both
``archprof gate`` and ``archprof verify`` check them. Parsing is pure Python, so a spec's budgets
are validated with the rest of the file, before torch is imported. Counts take K/M/G/T (powers of
1000); byte figures take KiB/MiB/GiB/TiB (powers of 1024) or kB/MB/GB/TB (powers of 1000).
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

#: Budget field -> (key in ``Analysis.totals``, kind of figure).
FIELDS: dict[str, tuple[str, str]] = {
    "params": ("params", "count"),
    "trainable_params": ("trainable_params", "count"),
    "macs": ("macs", "count"),
    "flops": ("flops", "count"),
    "activations": ("activation_bytes", "bytes"),
    "peak_activation": ("peak_activation_bytes", "bytes"),
    "weights": ("weight_bytes", "bytes"),
    "saved_activation": ("saved_activation_bytes", "bytes"),
    "train_memory": ("train_memory_bytes", "bytes"),
    "train_memory_sgd": ("train_memory_sgd_bytes", "bytes"),
    "train_memory_adamw": ("train_memory_adamw_bytes", "bytes"),
}
#: The totals' own key names are accepted too (``peak_activation_bytes<=64MiB``).
ALIASES = {key: name for name, (key, _) in FIELDS.items()}
COUNT_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
BYTE_UNITS = {"": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
              "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
OPERATORS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_SYNTAX = re.compile(r"^\s*([A-Za-z_]+)\s*(<=|>=|<|>)\s*([0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
MAX_TEXT = 100


class BudgetError(ValueError):
    """A budget that cannot be read (the message says what is expected)."""


@dataclass(frozen=True)
class Budget:
    text: str
    field: str          # a key of FIELDS
    op: str
    limit: float

    @property
    def total_key(self) -> str:
        return FIELDS[self.field][0]

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.limit)

    def check(self, totals: dict[str, Any]) -> "BudgetCheck":
        value = totals[self.total_key]
        return BudgetCheck(self, value, self.holds(value))


@dataclass(frozen=True)
class BudgetCheck:
    budget: Budget
    value: float
    ok: bool

    @property
    def margin(self) -> float:
        """How far the figure is inside the limit (negative: by how much it breaks it)."""
        b = self.budget
        return b.limit - self.value if b.op in ("<=", "<") else self.value - b.limit

    def describe(self) -> str:
        b = self.budget
        kind = FIELDS[b.field][1]
        figure = f"{b.field} is {format_figure(self.value, kind)}"
        rel = f" ({abs(self.margin) / b.limit:.1%} of the limit)" if b.limit else ""
        if self.ok:
            return f"budget {b.text} holds: {figure}, {format_figure(abs(self.margin), kind)} to spare{rel}"
        side = "over" if b.op in ("<=", "<") else "under"
        return f"budget {b.text} broken: {figure}, {format_figure(abs(self.margin), kind)} {side} the limit{rel}"

    def as_dict(self) -> dict[str, Any]:
        return {"budget": self.budget.text, "field": self.budget.field, "op": self.budget.op, "limit": self.budget.limit,
                "value": self.value, "ok": self.ok, "margin": self.margin}


def format_figure(value: float, kind: str) -> str:
    """61706 -> '61,706 (61.71 K)'; bytes in binary units."""
    exact = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    units = [(2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")] if kind == "bytes" else \
        [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
    for factor, unit in units:
        if abs(value) >= factor:
            return f"{exact}{' B' if kind == 'bytes' else ''} ({value / factor:.2f} {unit})"
    return exact + (" B" if kind == "bytes" else "")


def parse(text: Any) -> Budget:
    """``'params<=5M'`` -> Budget; :class:`BudgetError` with the expected form otherwise."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise BudgetError(f"a budget is a short text such as 'params<=5M', got {str(text)[:MAX_TEXT]!r}")
    match = _SYNTAX.match(text)
    expected = f"expected FIELD<=NUMBER[UNIT] such as 'params<=5M' or 'peak_activation<=64MiB' (fields: {', '.join(FIELDS)})"
    if not match:
        raise BudgetError(f"budget '{text}': {expected}")
    name, op, number, unit = match.groups()
    field = name if name in FIELDS else ALIASES.get(name)
    if field is None:
        raise BudgetError(f"budget '{text}': unknown field '{name}' (fields: {', '.join(FIELDS)})")
    kind = FIELDS[field][1]
    units = BYTE_UNITS if kind == "bytes" else COUNT_UNITS
    if unit not in units:
        allowed = "KiB, MiB, GiB, TiB, kB, MB, GB, TB or none" if kind == "bytes" else "K, M, G, T or none"
        raise BudgetError(f"budget '{text}': unit '{unit}' does not fit {field} ({kind}; units: {allowed})")
    limit = float(number.replace("_", "")) * units[unit]
    if not math.isfinite(limit) or limit > 1e30:
        raise BudgetError(f"budget '{text}': the limit is too large")
    return Budget("".join(text.split()), field, op, limit)


def parse_all(texts: list[Any]) -> list[Budget]:
    return [parse(t) for t in texts]
