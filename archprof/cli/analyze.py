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
@click.option("--fast", is_flag=True, help="Cost a spec's layers from its plan in pure Python, without importing torch: the same "
              "params, MACs, FLOPs, activations, receptive fields and input sizes; no measured memory totals.")
@PLUGIN
@user_errors
@one_shot
def analyze(source: str, params: tuple[str, ...], input_: str | None, batch: int, dtype: str, depth: int | None, columns: list[str] | None,
            fmt: str, output: Path | None, fast: bool) -> None:
    """Per-layer shapes, params, MACs/FLOPs, receptive fields, memory and input constraints.

    SOURCE is a spec file, a bundled spec name (archprof zoo), torchvision:NAME, timm:NAME, or
    path/to/file.py:ClassOrFactory (which imports and runs that file). Nothing is allocated: the
    model is analysed on PyTorch's meta device.
    """
    shape = parse_shape(input_)
    target = opened(source, parse_params(params), shape)
    result = _fast(target, shape, batch, dtype) if fast else None
    if result is None:
        import_torch()
        from archprof.analysis import analyze as run

        result = run(target, input_shape=shape, batch=batch, dtype=dtype)
    from archprof.analysis.render import render

    emit(render(result, fmt, depth, columns=columns, color=on_terminal(output)), output)


def _fast(target, shape, batch: int, dtype: str):
    """The analysis without torch, or None (said in one line) when a layer's op has no pure-Python cost rule."""
    from archprof.analysis.fast import NoCostRule, analyze_fast

    try:
        return analyze_fast(target, input_shape=shape, batch=batch, dtype=dtype)
    except NoCostRule as exc:
        click.echo(f"archprof: {exc}; analysing by tracing instead", err=True)
        return None


@click.command()
@click.argument("source")
@click.option("--grid", "grid", multiple=True, required=True, metavar="KEY=EXPR",
              help="A spec parameter and its values, a list in the spec expression language: 'base_width=list(range(16, 80, 2))', "
                   "'depths=[[2,2,2,2],[3,4,6,3]]' (repeatable: every combination is costed).")
@PARAM
@click.option("--input", "input_", metavar="CxHxW", help="Input size without batch (default: the spec's own).")
@click.option("--batch", default=1, show_default=True, type=BATCH)
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--where", metavar="EXPR", help="Keep the variants where EXPR is true, over the grid keys and params, macs, flops, "
              "activation_bytes: 'macs <= 600e6 and params < 10e6'.")
@click.option("--sort", "sort", default="macs", show_default=True, metavar="FIELD", help="Sort by this column (-FIELD: descending).")
@click.option("--top", type=click.IntRange(1, 100_000), metavar="N", help="Show the first N variants only.")
@click.option("--jobs", type=click.IntRange(1, 256), metavar="N", help="Processes (default: one per core for 64 variants or more).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png",
              help="Draw MACs against params (log axes, coloured by the first grid key) with the Pareto front.")
@PLUGIN
@user_errors
@one_shot
def sweep(source: str, grid: tuple[str, ...], params: tuple[str, ...], input_: str | None, batch: int, dtype: str, where: str | None,
          sort: str, top: int | None, jobs: int | None, fmt: str, output: Path | None, plot: Path | None) -> None:
    """Cost every combination of a grid of spec parameters, without torch: which variants fit a budget, and the Pareto front.

    SOURCE is a spec file or a bundled spec name. Variants the spec rejects are counted and listed on
    stderr, never fatal. Example: archprof sweep resnet50 --grid 'base_width=list(range(16, 80, 8))'
    --grid 'depths=[[2,2,2,2],[3,4,6,3]]' --where 'macs <= 2e9'
    """
    from archprof.analysis.sweep import parse_grid, rejected_lines, render
    from archprof.analysis.sweep import sweep as run

    if plot is not None and plot.suffix.lower() != ".png":
        raise click.BadParameter(f"{plot}: the plot is written as PNG; name it FILE.png", param_hint="--plot")
    result = run(source, parse_grid(grid), params=parse_params(params), input_shape=parse_shape(input_), batch=batch, dtype=dtype,
                 where=where, sort=sort, top=top, jobs=jobs)
    for line in rejected_lines(result):
        click.echo(line, err=True)
    emit(render(result, fmt, color=on_terminal(output)), output)
    if fmt != "table":
        from archprof.analysis.sweep import summary

        for line in summary(result):
            click.echo(line, err=True)
    if plot is not None:
        from archprof.report.plots import sweep_plot

        sweep_plot(result.rows, list(result.grid)[0], plot, f"{result.source}: {len(result.rows):,} variants")
        click.echo(f"wrote {plot}", err=True)


COMMANDS = [analyze, sweep]
