"""Commands on specs themselves, without building a model: ``check``, ``schema``, ``zoo``."""
from __future__ import annotations

import click

from archprof.cli.common import PLUGIN, user_errors


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@user_errors
def zoo(fmt: str) -> None:
    """List the bundled specs with the figures their papers publish."""
    from archprof.spec import zoo as zoo_mod
    from archprof.text import render_frame

    click.echo(render_frame(zoo_mod.table(), fmt, title="archprof zoo", right=("params", "MACs", "top-1 %", "top-5 %")), nl=False)


@click.command()
@PLUGIN
@user_errors
def schema() -> None:
    """Print the JSON Schema of spec files (for editors)."""
    import json

    from archprof.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@click.command()
@click.argument("source")
@PLUGIN
@user_errors
def check(source: str) -> None:
    """Validate a spec without building it (no torch import)."""
    from archprof import load_spec, resolve

    spec = load_spec(source)
    plan = resolve(spec)
    leaves = sum(1 for _ in plan.leaves())
    click.echo(f"{spec.name}: ok ({leaves} layers, input {'x'.join(map(str, plan.input_shape))}, output {'x'.join(map(str, plan.root.out_shape))})")


COMMANDS = [zoo, schema, check]
