"""A small on-disk cache for work that every run would otherwise repeat (parsing bundled data,
the split of bundled data). Entries are keyed by everything they derive from, so a stale entry
is never read: it just stops being found. Nothing breaks without it: an unwritable or damaged
cache only means the work is done again.

The folder is ``ARCHPROF_CACHE``, else ``$XDG_CACHE_HOME/archprof``, else ``~/.cache/archprof``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

ENV = "ARCHPROF_CACHE"


def folder() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "archprof"


def key(*parts: Any) -> str:
    """A short digest of what an entry derives from (versions, file sizes and times, settings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cached_arrays(name: str, parts: tuple, compute: Callable[[], dict]) -> dict:
    """``compute()``'s dict of numpy arrays, stored as ``name-KEY.npz`` (read without pickle)."""
    import numpy as np

    path = folder() / f"{name}-{key(*parts)}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    except (OSError, ValueError, KeyError):
        pass
    value = compute()

    def write(p: Path) -> None:
        with open(p, "wb") as handle:
            np.savez(handle, **value)

    _store(path, write)
    return value


def _store(path: Path, write: Callable[[Path], None]) -> None:
    """Written beside its final name and renamed, so a reader never sees half an entry."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, path)
    except OSError:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
