"""Commands on specs themselves, without building a model: ``check``, ``schema``, ``zoo``."""
from __future__ import annotations

import click

from archprof.cli.common import COLUMNS, PLUGIN, on_terminal, user_errors


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@COLUMNS
@user_errors
def zoo(fmt: str, columns: list[str] | None) -> None:
    """List the bundled specs with the figures their papers publish."""
    import csv
    import io
    import json

    from archprof.spec import zoo as zoo_mod
    from archprof.text import markdown_table, rich_rows

    rows = zoo_mod.rows()
    if fmt == "json":
        text = json.dumps(rows, indent=2) + "\n"
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, zoo_mod.HEADERS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    elif fmt == "md":
        full = [["" if r[h] is None else f"{r[h]:.10g}" if isinstance(r[h], float) else r[h] for h in zoo_mod.HEADERS] for r in rows]
        text = markdown_table(zoo_mod.HEADERS, full, right=zoo_mod.NUMERIC)
    else:
        text = rich_rows(zoo_mod.HEADERS, [zoo_mod.display(r) for r in rows], "archprof zoo", zoo_mod.NUMERIC,
                         footer=[f"{len(rows)} specs; figures as published (archprof verify checks them)"],
                         drop=("reference", "family", "dataset", "input"), short={"params (M)": "params M", "MACs (G)": "MACs G"},
                         columns=columns, color=on_terminal(None))
    click.echo(text, nl=False)


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
