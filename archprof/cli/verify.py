"""``archprof verify``: every spec checked against its paper and its reference implementation."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from archprof.cli.common import COLUMNS, PLUGIN, emit, on_terminal, user_errors


@click.command()
@click.argument("specs", nargs=-1)
@click.option("--train", "with_training", is_flag=True, help="Also run each spec's short training check on bundled data.")
@click.option("--no-equivalence", is_flag=True, help="Skip the comparison with reference implementations.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
@COLUMNS
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@PLUGIN
@user_errors
def verify(specs: tuple[str, ...], with_training: bool, no_equivalence: bool, fmt: str, columns: list[str] | None,
           output: Path | None) -> None:
    """Check specs (default: the whole zoo) against their papers; exit 1 on any FAIL."""
    from archprof import load_spec, zoo_names
    from archprof.verify import FAIL
    from archprof.verify import verify as run
    from archprof.verify.render import render

    rows = []
    for name in specs or zoo_names():
        rows += run(load_spec(name), equivalence=not no_equivalence, train=with_training)
    emit(render(rows, fmt, columns=columns, color=on_terminal(output)), output)
    failed = [r for r in rows if r.status == FAIL]
    if failed:
        click.echo(f"archprof: {len(failed)} check(s) failed: " + ", ".join(f"{r.spec} {r.check}" for r in failed[:5]), err=True)
        sys.exit(1)


COMMANDS = [verify]
