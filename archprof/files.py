"""Writing files the way trusted command-line tools do: never half a file, never clobbering what is not ours.

* A regular file (or a new path) is written atomically: a hidden temporary file in the same
  folder, fsync, then a rename over the target, so a process killed at any moment leaves the
  old file or the new one. A new file gets the mode the umask asks for (0644 under umask 022),
  a replaced one keeps its mode.
* A symbolic link is followed: the file it points to is replaced as above, the link stays.
* A device, FIFO or socket (``/dev/null``, ``/dev/stdout``, a named pipe) is written through,
  never replaced by a regular file; an error writing it (``/dev/full``) is reported.
* Temporary files name the process that writes them; those of processes that no longer run
  (killed writers) are removed the next time the same file is written.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from archprof.errors import ArchprofError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fail(path: Path, exc: OSError) -> ArchprofError:
    return ArchprofError(f"{path}: cannot write ({exc.strerror or exc})")


def _write_through(path: Path, data: bytes) -> None:
    try:
        with open(path, "wb", buffering=0) as handle:
            view = memoryview(data)
            while view:
                view = view[handle.write(view):]
    except OSError as exc:
        raise _fail(path, exc) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: Path, name: str) -> None:
    """Temporary files of ``name`` left behind by writers that were killed."""
    for tmp in folder.glob(f".{name}.*.tmp"):
        parts = tmp.name[len(name) + 2:].split(".")
        if parts and parts[0].isdigit() and int(parts[0]) != os.getpid() and not _alive(int(parts[0])):
            try:
                tmp.unlink()
            except OSError:
                pass


def check_writable(path: Path) -> None:
    """Refuse now, in one line, a path that a later atomic write would refuse (after a long run)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ArchprofError(f"{path}: is a folder, not a file")
    if not folder.is_dir():
        raise ArchprofError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) and not (path.exists() and not path.is_file()):
        raise ArchprofError(f"{path}: cannot write in {folder} (permission denied)")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        if path.is_symlink():
            path = Path(os.path.realpath(path))   # follow the link: its target is replaced, the link stays
        mode = path.stat().st_mode if path.exists() else None
    except OSError as exc:
        raise _fail(path, exc) from None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise ArchprofError(f"{path}: is a folder, not a file")
        _write_through(path, data)
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ArchprofError(f"{path}: folder {folder} does not exist")
    _remove_stale(folder, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _fail(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise _fail(path, exc) from None
    except BaseException:
        os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
