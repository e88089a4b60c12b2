"""The README's sample outputs are what the commands print: each block after a ``<!-- sample -->``
marker (``<!-- sample columns=N -->`` for another width than 100) starts with ``$ archprof ...``
and holds that command's whole output. Regenerate them all with ``python tests/test_readme_samples.py``."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE = re.compile(r"<!-- sample(?: columns=(\d+))? -->\n```text\n\$ (archprof [^\n]+)\n(.*?)```", re.S)


def samples(text: str) -> list[re.Match]:
    return list(SAMPLE.finditer(text))


def printed(command: str, columns: str | None) -> str:
    env = {**os.environ, "COLUMNS": columns or "100", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    args = shlex.split(command)[1:]
    proc = subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_readme_has_samples():
    assert len(samples(README.read_text())) >= 2


@pytest.mark.parametrize("index", range(len(samples(README.read_text()))))
def test_sample_is_what_the_command_prints(index):
    match = samples(README.read_text())[index]
    columns, command, shown = match.groups()
    assert printed(command, columns) == shown, f"README sample '{command}' is stale: run python tests/test_readme_samples.py"


if __name__ == "__main__":
    text = README.read_text()
    for match in reversed(samples(text)):
        columns, command, _ = match.groups()
        block = f"<!-- sample{f' columns={columns}' if columns else ''} -->\n```text\n$ {command}\n{printed(command, columns)}```"
        text = text[:match.start()] + block + text[match.end():]
    README.write_text(text)
