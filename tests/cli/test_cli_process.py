"""The console process: one-shot commands end without teardown and lose none of their output."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from click.testing import CliRunner

from archprof.cli import main


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, timeout=300, **kwargs)


def test_output_larger_than_a_pipe_buffer_arrives_whole():
    expected = CliRunner().invoke(main, ["analyze", "efficientnet_b0", "--format", "json"]).output
    assert len(expected) > 65_536  # more than one pipe buffer must be flushed before the exit
    proc = _run("analyze", "efficientnet_b0", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected


def test_output_file_is_complete(tmp_path):
    out = tmp_path / "lenet5.json"
    proc = _run("analyze", "lenet5", "--format", "json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert json.loads(out.read_text())["totals"]["params"] == 61_706


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "archprof", "analyze", "efficientnet_b0", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in stderr, stderr


def _exits(args: list[str]) -> subprocess.CompletedProcess:
    """Run the console entry point with an exit handler that reports whether teardown ran."""
    code = textwrap.dedent(f"""
        import atexit, sys
        atexit.register(lambda: print("teardown ran", file=sys.stderr))
        sys.argv = ["archprof", *{args!r}]
        from archprof.cli import run
        run()
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_only_one_shot_commands_skip_teardown(tmp_path):
    analysed = _exits(["analyze", "lenet5", "--format", "json"])
    assert analysed.returncode == 0 and json.loads(analysed.stdout)["totals"]["params"] == 61_706
    assert "teardown ran" not in analysed.stderr
    failed = _exits(["analyze", "lenet5", "--input", "1x8x8"])
    assert failed.returncode == 2 and "teardown ran" not in failed.stderr
    assert failed.stderr.startswith("archprof: error: ") and failed.stderr.count("\n") == 1
    checked = _exits(["check", "lenet5"])
    assert checked.returncode == 0 and "teardown ran" in checked.stderr
    missing = _exits(["check", str(tmp_path / "absent.yaml")])
    assert missing.returncode == 2 and "teardown ran" in missing.stderr


def test_torch_is_imported_without_collections_and_the_collector_is_restored():
    code = textwrap.dedent("""
        import gc
        from archprof.cli.process import import_torch
        phases = []
        gc.callbacks.append(lambda phase, info: phases.append(phase))
        import_torch()
        assert gc.isenabled() and not phases, phases
        gc.disable()
        import_torch()  # already imported: the collector stays as the caller left it
        assert not gc.isenabled()
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
