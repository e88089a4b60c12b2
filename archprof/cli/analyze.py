"""``archprof analyze``: the per-layer analysis of any source."""
from __future__ import annotations

from pathlib import Path

import click

from archprof.cli.common import BATCH, COLUMNS, DEPTH, PARAM, PLUGIN, emit, on_terminal, opened, parse_params, parse_shape, user_errors
from archprof.cli.process import import_torch, one_shot


@click.command()
@click.argument("source")
@PARAM
@click.option("--input", "input_", metavar="CxHxW", help="Input size without batch (default: the source's own).")
@click.option("--batch", default=1, show_default=True, type=BATCH)
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--depth", type=DEPTH, help="Roll layers up to this many name levels (stages, blocks); the table's default is "
              "the deepest tree of about 40 rows, the other formats' every layer.")
@COLUMNS
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@PLUGIN
@user_errors
@one_shot
def analyze(source: str, params: tuple[str, ...], input_: str | None, batch: int, dtype: str, depth: int | None, columns: list[str] | None,
            fmt: str, output: Path | None) -> None:
    """Per-layer shapes, params, MACs/FLOPs, receptive fields, memory and input constraints.

    SOURCE is a spec file, a bundled spec name (archprof zoo), torchvision:NAME, timm:NAME, or
    path/to/file.py:ClassOrFactory (which imports and runs that file). Nothing is allocated: the
    model is analysed on PyTorch's meta device.
    """
    shape = parse_shape(input_)
    target = opened(source, parse_params(params), shape)
    import_torch()
    from archprof.analysis import analyze as run
    from archprof.analysis.render import render

    result = run(target, input_shape=shape, batch=batch, dtype=dtype)
    emit(render(result, fmt, depth, columns=columns, color=on_terminal(output)), output)


COMMANDS = [analyze]
