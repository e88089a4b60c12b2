"""Safe YAML loading that remembers where every value came from.

PyYAML's safe constructor never constructs Python objects beyond plain data; on top of it we refuse
anchors/aliases (the "billion laughs" expansion), duplicate keys and oversized documents, and
record the line of every mapping key and list item so errors can point at the source.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from archprof.errors import Location, SpecError

MAX_BYTES = 256 * 1024   # fourteen times the largest bundled family; parsing stays under a second
MAX_DEPTH = 64
MAX_INT_DIGITS = 80   # about 2**256, the bound of expressions


class Mapping(dict):
    """A dict that knows its file, its own line and the line of each key."""

    file: str | None = None
    line: int | None = None
    lines: dict


class Sequence(list):
    """A list that knows its file, its own line and the line of each item."""

    file: str | None = None
    line: int | None = None
    lines: list


def locate(container: object, path: tuple = (), base: Location | None = None) -> Location:
    """Location of ``container[path[0]][path[1]]...``: the deepest line known along the path."""
    where = base or Location(getattr(container, "file", None), getattr(container, "line", None))
    for key in path:
        where = where.child(key, line_of(container, key))
        container = container[key] if isinstance(container, (dict, list)) and _has(container, key) else None
    return where


def _has(container: object, key: object) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(key, int) and 0 <= key < len(container)


def line_of(container: object, key: object) -> int | None:
    lines = getattr(container, "lines", None)
    if isinstance(container, Mapping) and lines is not None:
        return lines.get(key, container.line)
    if isinstance(container, Sequence) and lines is not None and isinstance(key, int) and 0 <= key < len(lines):
        return lines[key]
    return getattr(container, "line", None)


try:  # libyaml scans and parses six times faster; composing and constructing stay in Python, checked below
    from yaml._yaml import CParser

    class _Base(Composer, CParser, SafeConstructor, Resolver):
        def __init__(self, stream):
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)
except ImportError:  # PyYAML built without libyaml
    _Base = yaml.SafeLoader


def _loader(file: str):
    class Loader(_Base):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent) or getattr(self.peek_event(), "anchor", None):
                mark = self.peek_event().start_mark
                raise SpecError("YAML anchors and aliases are not allowed in specs", Location(file, mark.line + 1))
            self._depth = getattr(self, "_depth", 0) + 1
            if self._depth > MAX_DEPTH:
                raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", Location(file, self.peek_event().start_mark.line + 1))
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node, deep=False):
            result = Mapping()
            result.file, result.line, result.lines = file, node.start_mark.line + 1, {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise SpecError("mapping keys must be plain scalars", Location(file, key_node.start_mark.line + 1))
                if key in result:
                    raise SpecError(f"duplicate key '{key}'", Location(file, key_node.start_mark.line + 1))
                result[key] = self.construct_object(value_node, deep=True)
                result.lines[key] = key_node.start_mark.line + 1
            return result

        def construct_sequence(self, node, deep=False):
            result = Sequence(self.construct_object(child, deep=True) for child in node.value)
            result.file, result.line = file, node.start_mark.line + 1
            result.lines = [c.start_mark.line + 1 for c in node.value]
            return result

    def construct_int(self, node):
        text = str(node.value).replace("_", "").lstrip("+-")
        if len(text) > MAX_INT_DIGITS:
            raise SpecError(f"number with {len(text)} digits is too large (at most {MAX_INT_DIGITS})", Location(file, node.start_mark.line + 1))
        return SafeConstructor.construct_yaml_int(self, node)

    Loader.construct_yaml_int = construct_int
    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_sequence)
    return Loader


def load_text(text: str, file: str) -> object:
    if len(text) > MAX_BYTES:
        raise SpecError(f"file is larger than {MAX_BYTES} bytes", Location(file))
    try:
        return yaml.load(text, Loader=_loader(file))  # noqa: S506 - a SafeLoader subclass
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(f"invalid YAML: {exc.problem or exc.context}", Location(file, line)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", Location(file)) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", Location(file)) from None


def load_file(path: Path) -> object:
    """A spec file: only a regular file is read (a device or FIFO would never end, or block), and
    never more than :data:`MAX_BYTES` of it, whatever its size said when it was opened."""
    file = str(path)
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", Location(file)) from None
    except FileNotFoundError:
        raise SpecError("no such file", Location(file)) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", Location(file)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise SpecError("is a directory, not a spec file", Location(file))
        raise SpecError("not a regular file (a device, FIFO or socket cannot be a spec)", Location(file))
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise SpecError(f"cannot read: {exc.strerror}", Location(file)) from None
    if len(raw) > MAX_BYTES:
        raise SpecError(f"file is larger than {MAX_BYTES} bytes", Location(file))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("file is not valid UTF-8", Location(file, line)) from None
    return load_text(text, file)
