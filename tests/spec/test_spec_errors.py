"""User mistakes: one line naming file, line and field; exit code 2; never a traceback."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof.cli import main

GOOD = """\
input: [3, 32, 32]
params: {width: 8}
blocks:
  unit:
    params: {out: required}
    layers:
      - {name: conv, op: conv, out: out, kernel: 3, padding: 1}
      - {op: relu}
layers:
  - {name: stem, op: unit, out: width}
  - {name: head, op: adaptive_avgpool}
  - {op: flatten}
  - {name: fc, op: linear, out: 10}
"""

# (description, text replaced in GOOD, replacement, expected line, expected field and message)
MISTAKES = [
    ("unknown op", "op: relu}", "op: relux}", 8, r"blocks\.unit\.layers\[1\]\.op: unknown op 'relux' \(did you mean 'relu'\?\)"),
    ("unknown block argument", "op: unit, out: width}", "op: unit, out: width, wide: 2}", 10, r"layers\[0\]\.wide: block 'unit' has no parameter"),
    ("missing block argument", "op: unit, out: width}", "op: unit}", 10, r"layers\[0\]: block 'unit' needs argument 'out'"),
    ("missing op argument", "op: linear, out: 10}", "op: linear}", 13, r"layers\[3\]\.out: field required"),
    ("wrong type", "kernel: 3, padding", "kernel: three, padding", 7, r"layers\[0\]\.kernel: "),
    ("negative width", "params: {width: 8}", "params: {width: -8}", 7, r"out: Input should be greater than 0"),
    ("unresolved reference", "{op: flatten}", "{op: flatten, from: stemm}", 12, r"layers\[2\]\.from: unknown reference 'stemm'"),
    ("unknown expression name", "out: width}", "out: widht * 2}", 10, r"layers\[0\]\.out: unknown name 'widht'"),
    ("attribute access", "out: width}", "out: width.__class__}", 10, r"'Attribute' is not allowed"),
    ("function call", "out: width}", "out: \"__import__('os')\"}", 10, r"function '__import__' is not available"),
    ("duplicate key", "{name: fc, op: linear, out: 10}", "{name: fc, op: linear, out: 10, out: 5}", 13, r"duplicate key 'out'"),
    ("unknown top-level field", "input: [3, 32, 32]", "input: [3, 32, 32]\nlayres: []", 2, r"layres: unknown field"),
    ("python tag", "input: [3, 32, 32]", "input: !!python/object/apply:os.system ['true']", 1, r"invalid YAML|could not determine a constructor"),
    ("too small input", "input: [3, 32, 32]", "input: [3, 0, 32]", 1, r"input: input must be a list of positive integers"),
    ("alias", "params: {width: 8}", "params: {width: &w 8, other: *w}", 2, r"anchors and aliases are not allowed"),
    ("conv has no ceil_mode", "kernel: 3, padding: 1}", "kernel: 3, padding: 1, ceil_mode: true}", 7,
     r"blocks\.unit\.layers\[0\]\.ceil_mode: unknown field"),
    ("a pair given three values", "kernel: 3, padding", "kernel: [1, 7, 1], padding", 7, r"layers\[0\]\.kernel: expected 2 values, got 3"),
    ("a pair given one value", "kernel: 3, padding", "kernel: [3], padding", 7, r"layers\[0\]\.kernel: expected 2 values, got 1"),
    ("a boolean for a number", "kernel: 3, padding", "kernel: true, padding", 7, r"layers\[0\]\.kernel: expected a number, got true"),
    ("misspelt bare name in a block", "op: conv, out: out,", "op: conv, out: widht,", 7,
     r"blocks\.unit\.layers\[0\]\.out: unknown name 'widht' \(did you mean 'width'\?\) \(in block 'unit' used at .*model\.yaml:10: layers\[0\]\)"),
    ("misspelt bare name", "op: linear, out: 10}", "op: linear, out: num_clases}", 13, r"layers\[3\]\.out: unknown name 'num_clases'"),
    ("in-place op on a value read later", "      - {op: relu}", "      - {name: act, op: relu, inplace: true}\n      - {name: add, op: add, from: [conv, act]}", 8,
     r"'act' \(relu, inplace\) would overwrite 'conv', which 'add' reads after it"),
    ("in-place op on a block input", "      - {name: conv, op: conv, out: out, kernel: 3, padding: 1}",
     "      - {op: relu, inplace: true}\n      - {name: conv, op: conv, out: out, kernel: 3, padding: 1}", 7,
     r"would overwrite 'input', the input of its block or model"),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return path


def test_good_spec_is_accepted(tmp_path):
    result = CliRunner().invoke(main, ["check", str(write(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output


def test_layer_names_may_hold_dashes_as_torchvision_regnet(tmp_path):
    result = CliRunner().invoke(main, ["check", str(write(tmp_path, GOOD.replace("name: stem,", "name: block1-0,")))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("reference,message", [
    ("{library: torchvision, model: resnet19}", "reference.model: torchvision has no model 'resnet19' (did you mean resnet18"),
    ("{library: timm, model: resnet19d}", "reference.model: timm has no model 'resnet19d' (did you mean resnet18d"),
    ("{library: torchvision, model: resnet18, kwargs: {num_clases: 10}}",
     "reference.kwargs: torchvision:resnet18 cannot be built with kwargs {'num_clases': 10}: TypeError"),
])
def test_a_mistyped_reference_is_one_line_in_verify(tmp_path, reference, message):
    from archprof.spec import bundled_dir

    path = tmp_path / "mine.yaml"
    path.write_text(f"extends: {bundled_dir() / 'resnet18.yaml'}\nreference: {reference}\n")
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and result.output.startswith(f"archprof: error: {path}:2: {message}"), result.output


@pytest.mark.parametrize("what,old,new,line,pattern", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_spec_mistakes(tmp_path, what, old, new, line, pattern):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"archprof: error: {path}:{line}: "), message
    assert __import__("re").search(pattern, message), message


@pytest.mark.parametrize("text,expected", [
    ("", "the spec file is empty"),
    ("- just\n- a list\n", "a spec must be a YAML mapping"),
    (b"\xff\xfe bad bytes", "not valid UTF-8"),
    ("a: [1, 2\n", "invalid YAML"),
])
def test_unreadable_files(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2 and expected in result.output


def test_no_traceback_from_the_real_command(tmp_path):
    path = write(tmp_path, GOOD.replace("op: relu}", "op: relux}"))
    for args in (["check", str(path)], ["analyze", str(path)], ["analyze", "no_such_spec"], ["analyze", "lenet5", "--input", "1x8x8"]):
        proc = subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", [["check"], ["analyze"], ["analyze", "--format", "json"], ["diff", "lenet5"], ["gate", "--baselines", "b"]])
def test_validation_does_not_import_torch(tmp_path, command):
    """A good spec is checked without torch; a bad one is refused by every command before torch loads."""
    good, bad = write(tmp_path, GOOD), tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("op: relu}", "op: relux}"))
    for path, checked in ((good, command == ["check"]), (bad, True)):
        if not checked:
            continue
        args = [command[0], str(path), *command[1:]]
        code = textwrap.dedent(f"""
            import sys
            from archprof.cli import main
            sys.argv = ["archprof", *{args!r}]
            try:
                main()
            except SystemExit:
                pass
            assert "torch" not in sys.modules, "validation imported torch"
        """)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr


def test_help_does_not_import_torch():
    code = "import sys; from archprof.cli import main; sys.argv=['archprof','--help']\ntry: main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_committed_json_schema_is_current():
    import json

    from archprof.spec import bundled_dir, json_schema

    committed = json.loads((bundled_dir() / "schema.json").read_text())
    assert committed == json_schema(), "specs/schema.json is stale: run `archprof schema > specs/schema.json`"


def test_the_editor_schema_checks_every_layer_against_its_op(tmp_path):
    """Every bundled file validates against `archprof schema`; a misspelt op or argument does not."""
    import jsonschema
    import yaml

    from archprof.spec import bundled_dir, json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    files = sorted(bundled_dir().glob("**/*.yaml"))
    assert len(files) > 60
    for path in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, (path.name, errors[:2])
        assert path.read_text().startswith("# yaml-language-server: $schema="), path.name
    for old, new in [("op: relu}", "op: rleu}"), ("kernel: 3, padding", "kernal: 3, padding"), ("op: linear, out: 10}", "op: linear, out: 10, bais: false}")]:
        text = GOOD.replace(old, new, 1)
        assert text != GOOD
        assert list(validator.iter_errors(yaml.safe_load(text))), new
    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
