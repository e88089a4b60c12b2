"""Renderers: the same tables as a rich terminal table, markdown, CSV or JSON. They only format."""
from __future__ import annotations

import io
import json
import shutil
from typing import TYPE_CHECKING, Any

from archprof.errors import ArchprofError

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


def render_frame(frame: pd.DataFrame, fmt: str, title: str | None = None, right: tuple[str, ...] = (), **fit) -> str:
    """A DataFrame of display strings in one of the formats."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(frame.to_dict("records"), indent=2, default=str) + "\n"
    if fmt == "md":
        text = frame.to_markdown(index=False, colalign=["right" if c in right else "left" for c in frame.columns])
        return (f"### {title}\n\n" if title else "") + text + "\n"
    return rich_table(frame, title, right, **fit)


def markdown_table(headers: list[str], rows: list[list[Any]], right: tuple[str, ...] = ()) -> str:
    """A GitHub-flavoured markdown table (tabulate, which pandas' to_markdown also uses)."""
    from tabulate import tabulate

    align = ["right" if h in right else "left" for h in headers]
    return tabulate(rows, headers=headers, tablefmt="pipe", colalign=align, disable_numparse=True) + "\n"


def screen_width() -> int:
    """The width tables are given: ``COLUMNS``, else the terminal's, else 80 (a pipe or a file)."""
    return max(20, shutil.get_terminal_size((80, 24)).columns)


def rich_table(frame: "pd.DataFrame", title: str | None, right: tuple[str, ...] = (), footer: list[str] | None = None,
               **fit) -> str:
    return rich_rows([str(c) for c in frame.columns], list(frame.itertuples(index=False)), title, right, footer, **fit)


def rich_rows(headers: list[str], rows, title: str | None, right: tuple[str, ...] = (), footer: list[str] | None = None, *,
              width: int | None = None, drop: tuple = (), short: dict[str, str] | None = None,
              columns: list[str] | None = None, color: bool = False, wrap_footer: bool = True) -> str:
    """A table for people at ``width`` (default :func:`screen_width`).

    Columns whose cells are all empty are left out. When the table is wider than the screen, headers
    take their ``short`` forms, then the columns named in ``drop`` go, in that order, until it fits
    (and any that fit again come back); a footer line names what went. ``columns`` (the user's
    choice, by header or short header) shows exactly those. Cells too wide for what is left fold
    onto a second line rather than being lost; so do footer lines, broken after their ' · ' first.
    rich draws; this only chooses the columns.
    """
    from rich.cells import cell_len
    from rich.console import Console

    width = width or screen_width()
    short = short or {}
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    cell_widths = [max((cell_len(row[i]) for row in rows), default=0) for i in range(len(headers))]

    def natural(shown: list[int], abbreviated: bool) -> int:
        """The table's width without wrapping: its widest cells and two spaces between columns."""
        names = [short.get(h, h) if abbreviated else h for h in headers]
        return sum(max(cell_widths[i], cell_len(names[i])) for i in shown) + 2 * (len(shown) - 1)

    if columns is not None:
        wanted = [_column_index(headers, short, c) for c in columns]
    else:
        wanted = [i for i, h in enumerate(headers) if not rows or any(row[i] for row in rows)]
    abbreviate, gone = natural(wanted, False) > width, []
    if columns is None:
        for group in drop:  # a name, or a tuple of names that go together (A and B sides)
            if natural(wanted, abbreviate) <= width:
                break
            indices = [headers.index(n) for n in ((group,) if isinstance(group, str) else group) if n in headers]
            indices = [i for i in indices if i in wanted]
            if indices and len(wanted) > len(indices):
                wanted = [i for i in wanted if i not in indices]
                gone.append(indices)
        for indices in reversed(gone[:]):  # a column dropped early may fit again beside what is left
            trial = sorted([*wanted, *indices])
            if natural(trial, abbreviate) <= width:
                wanted = trial
                gone.remove(indices)
    left_out = [headers[i] for indices in gone for i in indices]
    console = Console(file=io.StringIO(), width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False)
    console.print(_table(headers, rows, wanted, title, right, short if abbreviate else {}, color))
    if left_out:
        footer = [*(footer or []), f"not shown at {width} columns: {', '.join(left_out)} (--columns chooses)"]
    for line in footer or []:
        if not wrap_footer:  # lines a person copies (paths, commands) stay whole
            console.file.write(line + "\n")
            continue
        for part in _broken(line, width):
            console.print(part, soft_wrap=False, overflow="fold", markup=False)
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines())  # no padding to the screen's edge


def _broken(line: str, width: int) -> list[str]:
    """A footer line too long for the screen, broken after its ' · ' separators where it can be."""
    parts, current = [], ""
    for piece in line.split(" · "):
        candidate = f"{current} · {piece}" if current else piece
        if current and len(candidate) > width:
            parts.append(current + " ·")
            current = "  " + piece
        else:
            current = candidate
    return [*parts, current]


def _column_index(headers: list[str], short: dict[str, str], name: str) -> int:
    wanted = name.strip().lower()
    for i, h in enumerate(headers):
        if wanted in (h.lower(), short.get(h, h).lower()):
            return i
    raise ArchprofError(f"--columns: no column '{name}'; choose from {', '.join(headers)}")


def _table(headers, rows, wanted, title, right, short, color):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, header_style="bold" if color else "",
                  title_style="bold" if color else "", pad_edge=False, collapse_padding=True)
    for i in wanted:
        table.add_column(short.get(headers[i], headers[i]), justify="right" if headers[i] in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(row[i]) for i in wanted))  # Text: a cell is never read as rich markup
    return table
