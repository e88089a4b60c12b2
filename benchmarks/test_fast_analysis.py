"""Gate (f): analysis without torch, timed side by side with what it replaces, in one run.

* ``archprof analyze resnet50 --fast`` must take at most a quarter of the CPU time of a bare
  ``import torch`` (the floor of every analysis that needs torch);
* it must be at least 5x faster, in whole-process wall time, than the fastest of torchinfo,
  fvcore and ptflops analysing the same model (each builds it with real weights, as its users do);
* a 1,024-variant ResNet sweep (``base_width`` x ``depths`` x ``groups`` x ``stride_in_1x1``)
  must finish within 10 s of CPU, its worker processes included.

Every command runs in a fresh process; the commands take turns for three rounds after one untimed
run each (which fills the bytecode and file caches, as on an installed system), and medians are
compared. CPU time is the child's user + system time from ``os.wait4``, which includes the children
it waited for (the sweep's workers). The figures go to ``.benchmarks/fast.json``.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import CHILD_ENV, PEERS, build_code  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / ".benchmarks" / "fast.json"
ROUNDS = 3
CLI = [sys.executable, "-m", "archprof"]
SWEEP_GRID = ["base_width=list(range(16, 80, 2))", "depths=[[2,2,2,2],[3,4,6,3],[2,3,4,2],[3,4,8,3]]",
              "groups=[1,2,4,8]", "stride_in_1x1=[true,false]"]
COMPARED_PEERS = ("torchinfo", "fvcore", "ptflops")


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process, which must succeed."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    assert os.waitstatus_to_exitcode(status) == 0, f"{' '.join(argv[:6])} failed"
    return wall, usage.ru_utime + usage.ru_stime


def _commands() -> dict[str, list[str]]:
    commands = {"import torch": [sys.executable, "-c", "import torch"],
                "analyze --fast": CLI + ["analyze", "resnet50", "--fast", "--format", "json"]}
    build = build_code("resnet50")
    for peer in COMPARED_PEERS:
        pytest.importorskip(peer if peer != "fvcore" else "fvcore.nn")
        commands[peer] = [sys.executable, "-c", build + PEERS[peer]]
    grid = [arg for pair in SWEEP_GRID for arg in ("--grid", pair)]
    commands["sweep 1024"] = CLI + ["sweep", "resnet50", *grid, "--format", "json"]
    return commands


def test_fast_analysis_costs_less_than_importing_torch_and_sweeps_a_thousand_variants_in_seconds():
    commands = _commands()
    for argv in commands.values():
        measure(argv)
    runs = {key: [] for key in commands}
    for _ in range(ROUNDS):
        for key, argv in commands.items():
            runs[key].append(measure(argv))
    wall = {key: statistics.median(w for w, _ in rs) for key, rs in runs.items()}
    cpu = {key: statistics.median(c for _, c in rs) for key, rs in runs.items()}
    fastest_peer = min(COMPARED_PEERS, key=wall.get)
    cpu_ratio = cpu["analyze --fast"] / cpu["import torch"]
    speedup = wall[fastest_peer] / wall["analyze --fast"]

    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps({"rounds": {key: [{"wall_s": w, "cpu_s": c} for w, c in rs] for key, rs in runs.items()},
                                  "median_wall_s": wall, "median_cpu_s": cpu, "fast_cpu_over_import_torch": cpu_ratio,
                                  "fastest_peer": fastest_peer, "fastest_peer_wall_over_fast": speedup}, indent=2) + "\n")
    print("\n" + " · ".join(f"{key} {wall[key]:.2f} s wall, {cpu[key]:.2f} s CPU" for key in commands))
    print(f"--fast: {cpu_ratio:.2f}x the CPU of import torch; {speedup:.1f}x faster than {fastest_peer}")

    assert cpu_ratio <= 0.25, f"analyze --fast took {cpu['analyze --fast']:.2f} s CPU, {cpu_ratio:.2f}x a bare import torch"
    assert speedup >= 5, f"analyze --fast ({wall['analyze --fast']:.2f} s) is only {speedup:.1f}x faster than {fastest_peer}"
    assert cpu["sweep 1024"] <= 10, f"the 1,024-variant sweep took {cpu['sweep 1024']:.1f} s CPU"
