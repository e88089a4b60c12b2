"""CLI commands for reports (kept in their own module; registered in archprof.cli)."""
from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
