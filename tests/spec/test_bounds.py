"""Hostile input ends quickly and cleanly: every expression, spec file and number is bounded.

Each case runs the real command in a child process and is measured by the kernel (CPU time and
peak memory from wait4): exit code 2, one line on stderr, no traceback, under 5 s of CPU and 2 GB.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from archprof.spec.expr import ExprError, evaluate

CPU_SECONDS = 5.0
MEMORY = 2 << 30


def refused(args: list[str], cwd: Path, message: str) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "archprof", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout[-300:], proc.stderr[-300:])
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert cpu < CPU_SECONDS, f"{args}: {cpu:.1f} s of CPU"
    assert after.ru_maxrss * 1024 < MEMORY, f"{args}: {after.ru_maxrss / 2**20:.0f} MiB"


GROWING = [
    "[[i for i in range(10**5)] for j in range(10**5)]", "[x for x in range(10**6)]", "str([[0] * 10**4] * 10**4)",
    "sum([[1] * 1000] * 1000, [])", "'%99999999d' % 1", "len(str(list(range(99999))) * 9)", "[[[0] * 100] * 100] * 100",
    "max([len(str(x)) for x in range(10**5)])", "[list(range(99999)) for i in range(1000)]", "(" * 5000 + "1" + ")" * 5000,
    "int('9' * 4000)", "2 ** 2 ** 2 ** 2 ** 2", "'x' * 10**5 * 10**5",
]


@pytest.mark.parametrize("text", GROWING)
def test_every_expression_ends_fast_with_a_value_or_an_error(text):
    began = time.process_time()
    try:
        evaluate(text, {})
    except ExprError:
        pass
    assert time.process_time() - began < 1.0, text


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path


def test_specs_must_be_regular_files(folder):
    fifo = folder / "pipe.yaml"
    os.mkfifo(fifo)
    (folder / "zero.yaml").write_text("extends: /dev/zero\n")
    (folder / "fifo.yaml").write_text(f"extends: {fifo}\n")
    refused(["check", "zero.yaml"], folder, "/dev/zero: not a regular file")
    refused(["check", "fifo.yaml"], folder, "pipe.yaml: not a regular file")
    refused(["analyze", str(fifo)], folder, "not a regular file")


def test_huge_numbers_and_shapes(folder):
    (folder / "digits.yaml").write_text("input: [3, 8, 8]\nlayers:\n  - {op: conv, out: " + "9" * 5000 + ", kernel: 1}\n")
    refused(["check", "digits.yaml"], folder, "number with 5000 digits is too large")
    (folder / "wide.yaml").write_text("input: [3, 8, 8]\nlayers:\n  - {op: conv, out: 99999999999999999999, kernel: 1}\n")
    refused(["analyze", "wide.yaml"], folder, "larger than any tensor archprof handles")
    (folder / "pad.yaml").write_text("input: [3, 8, 8]\nlayers:\n  - {op: pad, padding: [100000000, 100000000, 100000000, 100000000]}\n")
    refused(["train", "pad.yaml", "--data", "digits"], folder, "larger than any tensor archprof handles")


def test_deeply_nested_blocks_name_the_depth_quickly(folder):
    blocks = "\n".join(f"  b{i}:\n    layers: [{{op: {'b' + str(i + 1) if i < 2999 else 'relu'}}}]" for i in range(3000))
    (folder / "chain.yaml").write_text(f"input: [3, 8, 8]\nblocks:\n{blocks}\nlayers:\n  - {{op: b0}}\n")
    refused(["check", "chain.yaml"], folder, "blocks nest more than 32 deep (b0 -> ... -> b31 -> b32)")
    (folder / "cycle.yaml").write_text("input: [3, 8, 8]\nblocks:\n  a: {layers: [{op: b}]}\n  b: {layers: [{op: a}]}\nlayers:\n  - {op: a}\n")
    refused(["check", "cycle.yaml"], folder, "block 'a' uses itself (a -> b -> a)")


def _numeric_options():
    from archprof.cli import main

    ctx = click.Context(main)
    for name in sorted(main.list_commands(ctx)):
        command = main.get_command(ctx, name)
        for param in command.params:
            if isinstance(param, click.Option) and (isinstance(param.type, (click.IntRange, click.FloatRange))
                                                    or getattr(param.type, "name", "") == "N|auto"):
                yield name, param.opts[0]


NUMERIC = list(_numeric_options())
NEEDS = {"train": ["lenet5", "--data", "digits"], "eval": ["lenet5", "--weights", "w.safetensors", "--data", "digits"],
         "gate": ["lenet5", "--baselines", "b"], "analyze": ["lenet5"], "bench": ["lenet5"], "diff": ["lenet5", "resnet18"],
         "sweep": ["lenet5", "--grid", "num_classes=[10]"], "verify": ["lenet5", "--no-equivalence"]}


def test_every_numeric_option_is_covered():
    assert {c for c, _ in NUMERIC} >= {"analyze", "train", "eval", "bench", "gate", "diff"} and len(NUMERIC) >= 12


@pytest.mark.parametrize("command,option", NUMERIC, ids=[f"{c} {o}" for c, o in NUMERIC])
@pytest.mark.parametrize("value", ["10**30", "1" + "0" * 30, "-1" + "0" * 30, "nan", "inf"])
def test_absurd_numbers_on_the_command_line(folder, command, option, value):
    value = str(eval(value)) if "**" in value else value   # noqa: S307 - the test's own literal
    refused([command, *NEEDS[command], option, value], folder, "")


def test_absurd_input_sizes(folder):
    refused(["analyze", "lenet5", "--input", "3x99999999999999999999x2"], folder, "--input 3x99999999999999999999x2: larger than any tensor")
    refused(["bench", "lenet5", "--input", "1x" + "9" * 40 + "x32"], folder, "larger than any tensor")
