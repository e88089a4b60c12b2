"""Start-up and shut-down of the ``archprof`` process, for commands that compute, print and end.

Two costs of a torch process are not part of any analysis, and measured on 2 cores they are a
third of ``archprof analyze`` on a small model:

- importing torch makes about a million long-lived objects and no garbage, yet the cyclic
  garbage collector runs about 400 times over them meanwhile: an eighth of the import's time;
- the interpreter's teardown frees torch's modules object by object and runs torch's exit
  handlers: about 0.45 s and, at its peak, 120 MiB more than the analysis itself used.

:func:`one_shot` marks a command as having nothing to clean up when it returns (its output is
printed or written atomically, it starts no processes and keeps no files open); such a command
calls :func:`import_torch` (torch with the collector paused) once its input is validated, and :func:`run_and_exit`, behind the console entry point, then ends
the process with ``os._exit`` once stdout and stderr are flushed. Under ``main`` alone (tests, embedding) the
process ends as usual.
"""
from __future__ import annotations

import functools
import gc
import os
import sys

_skip_teardown = False


def import_torch() -> None:
    """Import torch with the cyclic garbage collector paused (it is restored as it was)."""
    if "torch" in sys.modules:
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import torch  # noqa: F401
    finally:
        if was_enabled:
            gc.enable()


def one_shot(command):
    """Decorate a click command whose process may end without teardown once it returns or fails."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        global _skip_teardown
        _skip_teardown = True
        return command(*args, **kwargs)

    return wrapper


def _exit_code(code) -> int:
    """What ``sys.exit(code)`` would make the process's status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_and_exit(main) -> None:
    """Run the click group ``main`` as the ``archprof`` process, ending it as described above."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    if not _skip_teardown:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or stream: nothing more to deliver
            pass
    os._exit(code)
