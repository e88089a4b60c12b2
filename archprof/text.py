"""Renderers: the same tables as a rich terminal table, markdown, CSV or JSON. They only format."""
from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

UNITS = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]


def human(n: Any, unit: str = "") -> str:
    """1234567 -> '1.23 M'; bytes use binary prefixes (KiB, MiB, GiB)."""
    if n is None or (isinstance(n, float) and n != n):  # None or NaN
        return ""
    if unit == "B":
        for factor, prefix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(n) >= factor:
                return f"{n / factor:.2f} {prefix}"
        return f"{int(n)} B"
    for factor, prefix in UNITS:
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n:g}{unit}" if isinstance(n, float) else f"{n}{unit}"


def shape_text(shape: Any) -> str:
    if shape is None or (isinstance(shape, float) and shape != shape):
        return ""
    if shape and isinstance(shape[0], (tuple, list)):
        return ", ".join(shape_text(s) for s in shape)
    return "x".join(str(d) for d in shape)


def render_frame(frame: pd.DataFrame, fmt: str, title: str | None = None, right: tuple[str, ...] = ()) -> str:
    """A DataFrame of display strings in one of the formats."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(frame.to_dict("records"), indent=2, default=str) + "\n"
    if fmt == "md":
        text = frame.to_markdown(index=False, colalign=["right" if c in right else "left" for c in frame.columns])
        return (f"### {title}\n\n" if title else "") + text + "\n"
    return rich_table(frame, title, right)


def rich_table(frame: "pd.DataFrame", title: str | None, right: tuple[str, ...] = (), footer: list[str] | None = None) -> str:
    return rich_rows([str(c) for c in frame.columns], list(frame.itertuples(index=False)), title, right, footer)


def markdown_table(headers: list[str], rows: list[list[Any]], right: tuple[str, ...] = ()) -> str:
    """A GitHub-flavoured markdown table (tabulate, which pandas' to_markdown also uses)."""
    from tabulate import tabulate

    align = ["right" if h in right else "left" for h in headers]
    return tabulate(rows, headers=headers, tablefmt="pipe", colalign=align, disable_numparse=True) + "\n"


def rich_rows(headers: list[str], rows, title: str | None, right: tuple[str, ...] = (), footer: list[str] | None = None) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for col in headers:
        table.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False, color_system=None)
    console.print(table)
    for line in footer or []:
        console.print(line, highlight=False, soft_wrap=True)
    return buffer.getvalue()
