"""The ``archprof`` command: thin click commands that call one library function and render it.

Data goes to stdout (so ``--format csv | ...`` pipes), messages to stderr. Heavy imports (torch,
pandas, rich) happen inside the commands, so ``archprof --help`` and spec validation stay fast.
Every user mistake ends as one line on stderr and exit code 2 (see :func:`fail`).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from archprof.errors import EXIT_USER_ERROR, ArchprofError


def fail(message: str) -> "NoReturn":  # noqa: F821
    """The single way a command reports a user mistake: one line on stderr, exit code 2."""
    click.echo(f"archprof: error: {' '.join(str(message).split())}", err=True)
    sys.exit(EXIT_USER_ERROR)


def user_errors(command):
    """Turn ArchprofError (and the OS errors users cause) into :func:`fail`."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ArchprofError as exc:
            fail(str(exc))
        except (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError) as exc:
            fail(f"{exc.filename}: {exc.strerror}")

    return wrapper


class _Group(click.Group):
    """Usage errors (bad options) also become one line and exit code 2."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__.startswith("NoArgsIsHelp"):  # a bare `archprof`: show help
                click.echo(exc.ctx.get_help() if exc.ctx else "")
                sys.exit(0)
            fail(exc.format_message())
        except click.exceptions.Abort:
            fail("aborted")
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archprof")
def main() -> None:
    """Architectures as YAML specs: build, analyse, benchmark and verify them."""


@main.command()
@click.argument("source", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table")
@user_errors
def zoo(source: str | None, fmt: str) -> None:
    """List the bundled specs with their paper figures."""
    from archprof import zoo as zoo_mod

    frame = zoo_mod.table()
    from archprof.render import render_frame

    click.echo(render_frame(frame, fmt, title="archprof zoo"), nl=False)


@main.command()
@user_errors
def schema() -> None:
    """Print the JSON Schema of spec files (for editors)."""
    import json

    from archprof.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@main.command()
@click.argument("source")
@user_errors
def check(source: str) -> None:
    """Validate a spec without building it (no torch import)."""
    from archprof import load_spec, resolve

    spec = load_spec(source)
    plan = resolve(spec)
    leaves = sum(1 for _ in plan.leaves())
    click.echo(f"{spec.name}: ok ({leaves} layers, input {'x'.join(map(str, plan.input_shape))}, output {'x'.join(map(str, plan.root.out_shape))})")


if __name__ == "__main__":  # python -m archprof.cli
    main()
