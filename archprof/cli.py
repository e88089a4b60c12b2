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


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.lower().replace("×", "x").split("x"))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise ArchprofError(f"--input must look like 3x224x224, got '{text}'")
    return dims


@main.command()
@click.argument("source")
@click.option("--input", "input_", metavar="CxHxW", help="Input size without batch (default: the source's own).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--depth", type=click.IntRange(min=1), help="Roll layers up to this many name levels (stages, blocks).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@user_errors
def analyze(source: str, input_: str | None, batch: int, dtype: str, depth: int | None, fmt: str, output: Path | None) -> None:
    """Per-layer shapes, params, MACs/FLOPs, receptive fields, memory and input constraints.

    SOURCE is a spec file, a bundled spec name (archprof zoo), torchvision:NAME, timm:NAME, or
    path/to/file.py:ClassOrFactory (which imports and runs that file). Nothing is allocated: the
    model is analysed on PyTorch's meta device.
    """
    from archprof.analysis import analyze as run
    from archprof.report_analysis import render

    result = run(source, input_shape=_shape(input_), batch=batch, dtype=dtype)
    emit(render(result, fmt, depth), output)


def emit(text: str, output: Path | None) -> None:
    """Data to stdout, or atomically to a file (a killed run never leaves half a file)."""
    if output is None:
        click.echo(text, nl=False)
        return
    from archprof.files import write_text_atomic

    write_text_atomic(output, text)
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@user_errors
def zoo(fmt: str) -> None:
    """List the bundled specs with the figures their papers publish."""
    from archprof import zoo as zoo_mod
    from archprof.render import render_frame

    click.echo(render_frame(zoo_mod.table(), fmt, title="archprof zoo", right=("params", "MACs", "top-1 %", "top-5 %")), nl=False)


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
