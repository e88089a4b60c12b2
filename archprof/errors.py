"""One error type for every user mistake, rendered as a single line.

A user error is reported as ``FILE:LINE: path.to.field: message`` (location parts are
omitted when unknown) and exits with code 2; everything else is a bug and keeps its traceback.
"""
from __future__ import annotations

from dataclasses import dataclass

EXIT_USER_ERROR = 2


@dataclass(frozen=True)
class Location:
    """Where a value came from: a file, a 1-based line, and a dotted field path."""

    file: str | None = None
    line: int | None = None
    path: str = ""

    def child(self, key: object, line: int | None = None) -> "Location":
        part = f"[{key}]" if isinstance(key, int) else str(key)
        sep = "" if not self.path or part.startswith("[") else "."
        return Location(self.file, line if line is not None else self.line, f"{self.path}{sep}{part}")

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        return ": ".join(p for p in (where, self.path) if p)


class ArchprofError(Exception):
    """A mistake in user input: a spec, a source, an argument or a file."""

    def __init__(self, message: str, where: Location | None = None):
        super().__init__(message)
        self.message = message
        self.where = where or Location()

    def __str__(self) -> str:
        prefix = str(self.where)
        text = f"{prefix}: {self.message}" if prefix else self.message
        return " ".join(text.split())  # always one line


class SpecError(ArchprofError):
    """The spec is not valid (syntax, schema, expressions, references, shapes)."""
