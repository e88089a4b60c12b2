"""The ``archprof`` command: thin click commands that call one library function and render it.

Data goes to stdout (so ``--format csv | ...`` pipes), messages to stderr. Heavy imports (torch,
pandas, rich) happen inside the commands, so ``archprof --help`` and spec validation stay fast.
Every user mistake ends as one line on stderr and exit code 2 (see :func:`archprof.cli.common.fail`).
Each module of this package holds the commands of one stage and lists them in ``COMMANDS``.
"""
from __future__ import annotations

import sys

import click

from archprof.cli import analyze, bench, gate, report, spec, train, verify
from archprof.cli.common import fail
from archprof.cli.process import run_and_exit


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


for _module in (spec, analyze, train, verify, bench, gate, report):
    for _command in _module.COMMANDS:
        main.add_command(_command)


def run() -> None:
    """The ``archprof`` console script and ``python -m archprof``."""
    run_and_exit(main)
