"""``archprof gate``: regression gates for any model, in the user's own CI."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from archprof.cli.common import BATCH, PARAM, PERCENT, PLUGIN, emit, fail, parse_params, parse_shape, user_errors


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--baselines", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the baseline files (one DIR/NAME.md per model; NAME.speed.json with --speed).")
@click.option("--bless", is_flag=True, help="Write or update the baselines (and say what changed) instead of checking them.")
@click.option("--budget", "budgets", multiple=True, metavar="EXPR",
              help="A limit on the totals, e.g. 'params<=5M', 'macs<600M', 'peak_activation<=64MiB' (repeatable); "
                   "a spec's own budgets: section is checked too.")
@click.option("--tolerance", "tolerances", multiple=True, metavar="FIELD=PCT",
              help="Accept relative drift of one figure, e.g. macs=0.5% (or all=1%); exact by default (repeatable).")
@PARAM
@click.option("--input", "input_", metavar="CxHxW", help="Input size without batch (default: the source's own).")
@click.option("--batch", default=1, show_default=True, type=BATCH, help="Batch of the analysis.")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--speed", is_flag=True, help="Also time each model against its speed baseline (see the README's Gates section).")
@click.option("--mode", type=click.Choice(["infer", "train", "both"]), default="infer", show_default=True, help="What --speed times.")
@click.option("--device", default="auto", show_default=True, help="Device of --speed: cuda, cuda:N or cpu.")
@click.option("--speed-batch", type=click.IntRange(min=1, max=1 << 16), help="Batch of --speed (default: 8 on the CPU, 64 on a GPU).")
@click.option("--threads", type=click.IntRange(min=1, max=4096), default=1, show_default=True,
              help="CPU threads of --speed (one is steadiest on shared runners).")
@click.option("--rounds", type=click.IntRange(min=1, max=100), default=5, show_default=True, help="Interleaved rounds of --speed on a CPU.")
@click.option("--speed-threshold", type=PERCENT, metavar="PCT",
              help="Fail when slower by more than PCT percent (default: 50 on a CPU, 10 on a GPU).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@PLUGIN
@user_errors
def gate(sources: tuple[str, ...], baselines: Path, bless: bool, budgets: tuple[str, ...], tolerances: tuple[str, ...],
         params: tuple[str, ...], input_: str | None, batch: int, dtype: str, speed: bool, mode: str, device: str,
         speed_batch: int | None, threads: int, rounds: int, speed_threshold: float | None, fmt: str, output: Path | None) -> None:
    """Check models against their baseline analyses, budgets and speed; exit 1 when anything moved.

    SOURCE is anything `archprof analyze` takes. Each model's baseline is BASELINES/NAME.md, NAME
    being the spec's name or the source made file-safe (torchvision:resnet18 -> torchvision-resnet18,
    net.py:make -> net-make). Differences are reported per layer. Exit code 0: everything holds;
    1: a figure changed, a baseline is missing, a budget is broken or a model got slower; 2: a
    mistake in the command or a source.
    """
    from archprof.errors import ArchprofError
    from archprof.gate.check import GateOptions, run_gate
    from archprof.gate.render import render, summary
    from archprof.gate.snapshot import parse_tolerances
    from archprof.spec.budgets import BudgetError, parse_all

    if baselines.exists() and not baselines.is_dir():
        fail(f"--baselines {baselines}: not a folder")
    try:
        parse_all(list(budgets))
        accepted = parse_tolerances(list(tolerances))
    except (BudgetError, ValueError) as exc:
        raise ArchprofError(str(exc)) from None
    speed_options = None
    if speed:
        from archprof.gate.speed import SpeedOptions

        speed_options = SpeedOptions(modes=("infer", "train") if mode == "both" else (mode,), batch=speed_batch, device=device,
                                     threads=threads, rounds=rounds,
                                     threshold=None if speed_threshold is None else speed_threshold / 100)
    options = GateOptions(baselines, bless, tuple(budgets), accepted, parse_shape(input_), batch, dtype, speed_options)
    hint = _bless_command(sources, baselines, params, input_, batch, dtype, speed, mode)
    overrides = parse_params(params)
    results = [run_gate(source, options, bless_hint=hint, params=overrides) for source in sources]
    emit(render(results, fmt), output)
    for r in results:
        if bless and r.status == "written":
            click.echo(f"wrote {r.path}" + (f" ({len(r.diff.lines)} line(s) of changes above)" if r.diff else " (new)"), err=True)
    if fmt != "table" or output is not None:
        click.echo(summary(results), err=True)
    if not all(r.ok for r in results):
        sys.exit(1)


def _bless_command(sources, baselines, params, input_, batch, dtype, speed, mode) -> str:
    """The command that records these baselines: the same sources and analysis options, with --bless."""
    import shlex

    parts = ["archprof", "gate", *sources, "--baselines", str(baselines), *[f"--param={p}" for p in params]]
    parts += [f"--input={input_}"] if input_ else []
    parts += [f"--batch={batch}"] if batch != 1 else []
    parts += [f"--dtype={dtype}"] if dtype != "fp32" else []
    parts += ["--speed", f"--mode={mode}"] if speed else []
    return " ".join(shlex.quote(p) for p in parts + ["--bless"])


COMMANDS = [gate]
