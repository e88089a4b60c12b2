"""CLI commands for benchs (kept in their own module; registered in archprof.cli)."""
from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
