"""Hostile and broken input never crashes archprof, runs code, hangs, or loses work."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archprof.cli import main
from archprof.spec import bundled_dir

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def one_line_error(result, code: int = 2) -> str:
    """The CLI failed the documented way: exit code, one line, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output.strip()
    assert text.count("\n") == 0 and "Traceback" not in text, text
    return text


def run_cli(args, timeout: float = 10.0):
    began = time.perf_counter()
    result = CliRunner().invoke(main, args)
    assert time.perf_counter() - began < timeout, f"{args} took too long"
    return result


BOMBS = {
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n",
    "deep nesting": "input: " + "[" * 200 + "]" * 200 + "\n",
    "huge repeat": "input: [3, 8, 8]\nlayers:\n  - {repeat: 1000000000, op: relu}\n",
    "huge loop": "input: [3, 8, 8]\nlayers:\n  - {for: {i: 'range(10**9)'}, op: relu}\n",
    "huge exponent": "input: [3, 8, 8]\nlayers:\n  - {op: conv, out: '9**9**9', kernel: 1}\n",
    "huge string": "input: [3, 8, 8]\nlayers:\n  - {op: conv, out: \"len('x' * 10**10)\", kernel: 1}\n",
    "import": "input: [3, 8, 8]\nlayers:\n  - {op: conv, out: \"__import__('os').getpid()\", kernel: 1}\n",
    "dunder walk": "input: [3, 8, 8]\nlayers:\n  - {op: conv, out: \"().__class__.__base__\", kernel: 1}\n",
    "lambda": "input: [3, 8, 8]\nlayers:\n  - {op: conv, out: \"(lambda: 1)()\", kernel: 1}\n",
    "python tag": "input: !!python/object/apply:os.getpid []\nlayers: []\n",
    "cyclic extends": "extends: bomb.yaml\n",
    "self block": "input: [3, 8, 8]\nblocks:\n  loop:\n    layers: [{op: loop}]\nlayers:\n  - {op: loop}\n",
    "dangling ref": "input: [3, 8, 8]\nlayers:\n  - {op: add, from: [input, nowhere]}\n",
    "wrong type": "input: [3, 8, 8]\nlayers: {op: relu}\n",
    "empty": "",
    "duplicate keys": "input: [3, 8, 8]\ninput: [3, 9, 9]\nlayers: [{op: relu}]\n",
}


@pytest.mark.parametrize("name", BOMBS)
def test_spec_bombs_give_one_line_errors_quickly(tmp_path, name):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMBS[name])
    for command in ("check", "analyze"):
        text = one_line_error(run_cli([command, str(path)], timeout=2.0))
        assert str(path) in text


def test_non_utf8_spec(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("input: [3, 8, 8]\nname: caf\xe9\n".encode("latin-1"))
    assert "not valid UTF-8" in one_line_error(run_cli(["analyze", str(path)]))


def test_huge_spec_is_analysed_not_refused(tmp_path):
    """10 billion parameters on the meta device: analysed in seconds, nothing allocated."""
    path = tmp_path / "huge.yaml"
    path.write_text("input: [3, 16, 16]\nlayers:\n  - {op: conv, out: 100000, kernel: 3, padding: 1}\n  - {op: conv, out: 100000, kernel: 1}\n")
    result = run_cli(["analyze", str(path), "--format", "json"], timeout=30)
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.output)["totals"]["params"] == 100_000 * 27 + 100_000 + 100_000 * 100_000 + 100_000


def _family_files() -> list[Path]:
    specs = bundled_dir()
    return sorted((specs / "families").glob("*.yaml")) + [p for p in sorted(specs.glob("*.yaml")) if "extends:" not in p.read_text()]


FAMILIES = _family_files()
VALUES = st.sampled_from([0, -1, 1, 10**12, 1e12, 0.5, "x", "", None, True, [], {}, [0], "1 +", "in_channels * 10**6", "range(3)",
                          # expressions that grow: comprehensions, formatting, nesting, big strings and sums
                          "[[i for i in range(10**5)] for j in range(10**5)]", "len([i * j for i in range(99999) for j in [1]])",
                          "'%99999999d' % 1", "str([[0] * 10**4] * 10**4)", "sum([[1] * 1000] * 1000, [])", "(" * 300 + "1" + ")" * 300,
                          "max(range(10**5)) * 'x'", "[[[0] * 99] * 99] * 99", "int('9' * 4000)", "2 ** 64 ** 64",
                          "'x' * 99999 + str(list(range(99999)))"])


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _mutate(doc, path, action, value):
    if not path:
        return value if action == "replace" else doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = value
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(key, parent[key])
    elif action == "reorder" and isinstance(parent, list):
        parent.reverse()
    elif action == "reorder" and isinstance(parent, dict):
        items = list(parent.items())[::-1]
        parent.clear()
        parent.update(items)
    return doc


@settings(max_examples=int(os.environ.get("ARCHPROF_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_zoo_specs_never_crash(tmp_path, data):
    """Delete keys, swap types, set numbers to 0/-1/1e12/strings/null, duplicate and reorder entries:
    every run of `archprof analyze` either succeeds or exits 2 with one line — never a traceback."""
    family = data.draw(st.sampled_from(FAMILIES), label="spec")
    doc = yaml.safe_load(family.read_text())
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["delete", "replace", "replace", "duplicate", "reorder"]), label="action")
        doc = _mutate(doc, path, action, data.draw(VALUES, label="value"))
        paths = [p for p in _paths(doc) if p]
    path = tmp_path / family.name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_cli(["analyze", str(path), "--format", "json"], timeout=15)
    if result.exit_code != 0:
        one_line_error(result)


# -- sources, files, arguments --------------------------------------------------------------
def test_bad_sources(tmp_path):
    raising = tmp_path / "raising.py"
    raising.write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "pkg.py").mkdir()
    exiting = tmp_path / "exiting.py"
    exiting.write_text("import sys\nsys.exit(0)\n")
    not_a_model = tmp_path / "thing.py"
    not_a_model.write_text("def Thing():\n    return 42\n")
    cases = {
        str(tmp_path / "missing.yaml"): "no such file",
        str(tmp_path): "is a directory",
        f"{raising}:Model": "raised RuntimeError: boom at import",
        f"{exiting}:Model": "importing it raised SystemExit: 0",
        f"{tmp_path / 'pkg.py'}:Model": "is a folder, not a Python file",
        f"{not_a_model}:Thing": "not a torch.nn.Module",
        f"{not_a_model}:Missing": "has no class or function named 'Missing'",
        "torchvision:not_a_model": "torchvision has no model 'not_a_model'",
    }
    for source, expected in cases.items():
        assert expected in one_line_error(run_cli(["analyze", source], timeout=60)), source


def test_unwritable_output(tmp_path):
    text = one_line_error(run_cli(["analyze", "lenet5", "-o", str(tmp_path / "no" / "such" / "dir" / "out.json")]))
    assert "does not exist" in text


BAD_ARGUMENTS = [
    ["analyze"], ["analyze", "lenet5", "--batch", "0"], ["analyze", "lenet5", "--input", "big"],
    ["analyze", "lenet5", "--dtype", "fp8"], ["analyze", "lenet5", "--param", "nope"], ["analyze", "lenet5", "--param", "nope=1"],
    ["check"], ["zoo", "--format", "xml"], ["train", "lenet5"], ["train", "lenet5", "--data", "nowhere"],
    ["train", "lenet5", "--data", "digits", "--epochs", "0"], ["train", "lenet5", "--data", "imagefolder:/no/such"],
    ["eval", "lenet5", "--data", "digits"], ["eval", "lenet5", "--weights", "/no/such.safetensors", "--data", "digits"],
    ["verify", "no_such_spec"], ["schema", "extra"], ["bench"], ["report", "no_such_spec"], ["diff", "lenet5"],
    ["no-such-command"],
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=[" ".join(a) for a in BAD_ARGUMENTS])
def test_every_command_rejects_bad_arguments_in_one_line(args):
    one_line_error(run_cli(args, timeout=60))


# -- atomic writes --------------------------------------------------------------------------
def test_a_killed_writer_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "report.md"
    old = b"A" * 4_000_000
    target.write_bytes(old)
    writer = textwrap.dedent(f"""
        from pathlib import Path
        from archprof.files import write_bytes_atomic
        print("ready", flush=True)
        while True:
            write_bytes_atomic(Path({str(target)!r}), b"B" * 4_000_000)
    """)
    for delay in (0.05, 0.13, 0.31, 0.57):
        proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, env=ENV)
        proc.stdout.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        content = target.read_bytes()
        assert content in (old, b"B" * 4_000_000)
