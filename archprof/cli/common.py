"""What every archprof command shares: the one way to report a user mistake, option parsing,
and writing output. Imports nothing heavy, so `archprof --help` stays instant."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import NoReturn

import click

from archprof.errors import EXIT_USER_ERROR, ArchprofError


def fail(message: str) -> NoReturn:
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


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.lower().replace("×", "x").split("x"))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise ArchprofError(f"--input must look like 3x224x224, got '{text}'")
    from archprof.errors import Location
    from archprof.spec.plan import too_large

    too_large(dims, "--input", Location())
    return dims


def parse_params(pairs: tuple[str, ...]) -> dict:
    """--param KEY=VALUE pairs; values are parsed as YAML (numbers, lists, booleans)."""
    from archprof.spec.yamlsrc import load_text

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ArchprofError(f"--param must look like KEY=VALUE, got '{pair}'")
        out[key.strip()] = load_text(value, f"--param {key.strip()}")
    return out


def opened(source: str, params: dict, input_shape: tuple[int, ...] | None = None):
    """The source, validated before torch is imported: a spec is loaded and resolved (pure Python,
    so its mistakes are reported at once); a library or Python-file source is opened later."""
    from archprof.analysis.sources import is_spec, open_source

    target = spec_or_source(source, params)
    return open_source(target, input_shape) if is_spec(target) else target


def spec_or_source(source: str, params: dict):
    """A spec with --param overrides, or the source string for non-spec sources."""
    if not params:
        return source
    from archprof import load_spec

    return load_spec(source, params=params)


def _load_plugins(ctx, param, plugins: tuple[str, ...]) -> None:
    if plugins:
        from archprof.ops import load_plugins

        try:
            load_plugins(plugins)
        except ArchprofError as exc:
            raise click.BadParameter(str(exc)) from None


PLUGIN = click.option("--plugin", multiple=True, metavar="MODULE", expose_value=False, is_eager=True, callback=_load_plugins,
                      help="Load the ops of this module (on PYTHONPATH) or .py file before reading specs (repeatable; "
                           "also ARCHPROF_PLUGINS and installed 'archprof.ops' entry points).")
class FiniteRange(click.FloatRange):
    """A float range that also refuses nan (which compares as inside every range)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


# Bounds of every numeric option: beyond them a number is a mistake, not a request (never a C++ traceback).
BATCH = click.IntRange(1, 1 << 20)
DEPTH = click.IntRange(1, 64)
EPOCHS = click.IntRange(1, 100_000)
SEED = click.IntRange(0, 2**32 - 1)
LEARNING_RATE = FiniteRange(0, 100, min_open=True)
PERCENT = FiniteRange(0, 1000)

PARAM = click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a spec parameter (repeatable).")


def _column_list(ctx, param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise click.BadParameter("name at least one column, e.g. layer,params,MACs")
    return names


COLUMNS = click.option("--columns", callback=_column_list, metavar="A,B,...",
                       help="The table's columns, by header (e.g. layer,output,params,MACs); default: as many as fit the width "
                            "(COLUMNS, else the terminal's, else 80).")


def on_terminal(output: Path | None) -> bool:
    """Colour only for a person at a terminal: not in a pipe, a file or with NO_COLOR set."""
    import os

    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def emit(text: str, output: Path | None) -> None:
    """Data to stdout, or atomically to a file (a killed run never leaves half a file)."""
    if output is None:
        click.echo(text, nl=False)
        return
    from archprof.files import write_text_atomic

    write_text_atomic(output, text)
    click.echo(f"wrote {output}", err=True)
