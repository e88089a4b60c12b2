"""Gate (e): commands that answer a person at once, timed against a bare ``import torch`` in the
same run (its cost is the floor of anything that needs torch, and it scales with the machine).

* ``archprof zoo`` imports no torch: it must take at most half of a bare ``import torch``
  (under a second where that import takes two);
* ``archprof train`` names its data and model in its first lines: they must come within 1.3x a
  bare ``import torch`` of the start (the import is the one thing before them that takes long).

Three interleaved rounds, medians compared; the seconds go to ``.benchmarks/responsiveness.json``.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / ".benchmarks" / "responsiveness.json"
ROUNDS = 3
CLI = [sys.executable, "-m", "archprof"]


def _env() -> dict:
    return {**os.environ, "COLUMNS": "120", "PYTHONDONTWRITEBYTECODE": ""}  # an installed package's bytecode, as users run it


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=_env())
    return time.perf_counter() - start


def _until_lines(cmd: list[str], lines: int) -> tuple[float, list[str]]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    got = [proc.stdout.readline().strip() for _ in range(lines)]
    took = time.perf_counter() - start
    proc.kill()
    proc.wait()
    return took, got


def test_zoo_and_the_first_lines_of_train_come_at_once(tmp_path):
    torch_s, zoo_s, train_s = [], [], []
    _wall([sys.executable, "-c", "import torch"])  # warm the file cache for everyone
    for i in range(ROUNDS):
        torch_s.append(_wall([sys.executable, "-c", "import torch"]))
        zoo_s.append(_wall(CLI + ["zoo"]))
        took, lines = _until_lines(CLI + ["train", "lenet5", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / str(i))], 2)
        assert lines[0].startswith("data digits: 10 classes") and lines[1].startswith("model lenet5: 61,706 parameters"), lines
        train_s.append(took)
    floor, zoo, train = (statistics.median(v) for v in (torch_s, zoo_s, train_s))
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps({"import_torch_s": torch_s, "zoo_s": zoo_s, "train_first_lines_s": train_s}, indent=2) + "\n")
    print(f"\nimport torch {floor:.2f} s · zoo {zoo:.2f} s ({zoo / floor:.2f}x) · train's first lines {train:.2f} s ({train / floor:.2f}x)")
    assert zoo <= 0.5 * floor, f"archprof zoo took {zoo:.2f} s, {zoo / floor:.2f}x a bare import torch ({floor:.2f} s)"
    assert train <= 1.3 * floor, f"train's first lines came after {train:.2f} s, {train / floor:.2f}x a bare import torch ({floor:.2f} s)"
