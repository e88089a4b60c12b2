"""Outputs never clobber what archprof did not write: devices, links, modes, the user's files."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof.cli import main
from archprof.files import write_text_atomic


def run(args: list[str], cwd: Path | None = None, umask: int = 0o022) -> subprocess.CompletedProcess:
    code = f"import os, sys; os.umask({umask}); sys.argv = ['archprof'] + {args!r}; from archprof.cli import run; run()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_a_character_device_is_written_through_never_replaced():
    before = os.stat("/dev/null")
    result = run(["analyze", "lenet5", "--format", "json", "-o", "/dev/null"])
    assert result.returncode == 0, result.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_full_device_is_one_line_and_stays_a_device():
    result = run(["analyze", "lenet5", "-o", "/dev/full"])
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "/dev/full: cannot write (No space left on device)" in result.stderr
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run(["analyze", "lenet5", "--format", "json", "-o", str(link)])
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert '"params": 61706' in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640   # a replaced file keeps its mode


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_mode_the_umask_asks_for(tmp_path, umask, mode):
    out = tmp_path / "out.md"
    result = run(["analyze", "lenet5", "--format", "md", "-o", str(out)], umask=umask)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_temporary_files_of_killed_writers_are_cleaned_up(tmp_path):
    target = tmp_path / "report.md"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".report.md.{dead}.abc123.tmp"
    stale.write_text("half a file")
    mine_alive = tmp_path / f".report.md.{os.getppid()}.zzz.tmp"   # a writer that still runs: left alone
    mine_alive.write_text("in progress")
    other = tmp_path / ".notes.md.1.tmp"
    other.write_text("not ours")
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and not stale.exists() and mine_alive.exists() and other.exists()


def test_report_prunes_only_what_it_wrote(tmp_path):
    out = tmp_path / "reports"
    (out / "img").mkdir(parents=True)
    mine = out / "img" / "holiday.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\n" + b"the user's own picture")
    result = CliRunner().invoke(main, ["report", "lenet5", "resnet18", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    stale = out / "img" / "resnet18-stages.png"   # generated before, for a spec no longer reported
    from archprof.report import generate, select

    generate(select(["lenet5"]), out, index=False, prune=True)
    assert mine.exists() and not stale.exists() and (out / "img" / "lenet5-stages.png").exists()
