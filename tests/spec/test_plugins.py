"""The user's own ops, loaded as plugins: --plugin, ARCHPROF_PLUGINS and installed entry points."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

OPS = '''
"""A user's op: ReLU scaled by a constant, with its shape rule and module."""
from archprof.ops import Op, Shape, ShapeError, register


@register("{name}")
class ScaledReLU(Op):
    scale: float = 1.0

    def bound(self, x: Shape) -> tuple:
        return ()

    def shape(self, x: Shape) -> Shape:
        if not x:
            raise ShapeError("needs at least one dimension")
        return x

    def build(self, x: Shape):
        import torch
        from torch import nn

        scale = self.scale

        class Scaled(nn.Module):
            def forward(self, t):
                return torch.relu(t) * scale

        return Scaled()
'''

SPEC = '''
name: custom
input: [1, 8, 8]
params: {{num_classes: 10}}
layers:
  - {{name: conv, op: conv, out: 16, kernel: 3, padding: 1}}
  - {{name: act, op: {name}, scale: 2.0}}
  - {{name: flat, op: flatten}}
  - {{name: fc, op: linear, out: num_classes}}
trainability: {{data: digits, steps: 100, lr: 0.01, bar: 0.5}}
'''


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "ARCHPROF_PLUGINS"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "archprof", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=environ)


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "myops.py").write_text(OPS.format(name="scaled_relu"))
    (tmp_path / "custom.yaml").write_text(SPEC.format(name="scaled_relu"))
    return tmp_path


def test_plugin_on_pythonpath_in_every_command(project):
    env = {"PYTHONPATH": str(project / "lib")}
    without = cli("check", "custom.yaml", cwd=project, env=env)
    assert without.returncode == 2 and without.stderr.count("\n") == 1
    assert "unknown op 'scaled_relu'" in without.stderr and "--plugin MODULE" in without.stderr and "ARCHPROF_PLUGINS" in without.stderr

    checked = cli("check", "custom.yaml", "--plugin", "myops", cwd=project, env=env)
    assert checked.returncode == 0 and checked.stdout.startswith("custom: ok (4 layers"), checked.stderr
    analysed = cli("analyze", "custom.yaml", "--plugin", "myops", "--format", "json", cwd=project, env=env)
    assert analysed.returncode == 0, analysed.stderr
    rows = {r["name"]: r for r in json.loads(analysed.stdout)["layers"]}
    assert rows["act"]["type"] == "Scaled" and rows["act"]["flops"] == 2 * 16 * 8 * 8   # relu, then mul: one FLOP each
    verified = cli("verify", "custom.yaml", "--plugin", "myops", "--train", "--format", "json", cwd=project, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert any(r["check"].startswith("training") and r["status"] == "PASS" for r in json.loads(verified.stdout))
    trained = cli("train", "custom.yaml", "--plugin", "myops", "--data", "digits", "--epochs", "1", "--out", "run", cwd=project, env=env)
    assert trained.returncode == 0, trained.stderr
    assert (project / "run" / "best.safetensors").is_file()
    by_env = cli("check", "custom.yaml", cwd=project, env={**env, "ARCHPROF_PLUGINS": "myops"})
    assert by_env.returncode == 0, by_env.stderr
    by_file = cli("check", "custom.yaml", "--plugin", str(project / "lib" / "myops.py"), cwd=project)
    assert by_file.returncode == 0, by_file.stderr


def test_installed_entry_point_needs_no_option(tmp_path):
    site = tmp_path / "site"
    (site / "myplug").mkdir(parents=True)
    (site / "myplug" / "__init__.py").write_text(OPS.format(name="plug_relu"))
    meta = site / "myplug-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text("[archprof.ops]\nmyplug = myplug\n")
    (tmp_path / "custom.yaml").write_text(SPEC.format(name="plug_relu"))
    checked = cli("check", "custom.yaml", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert checked.returncode == 0, checked.stderr
    schema = json.loads(cli("schema", cwd=tmp_path, env={"PYTHONPATH": str(site)}).stdout)
    assert "op_plug_relu" in schema["$defs"]


@pytest.mark.parametrize("body,message", [
    ("raise SystemExit(0)\n", "plugin 'broken': importing it raised SystemExit: 0"),
    ("import nosuchdependency\n", "plugin 'broken': importing it raised ModuleNotFoundError"),
    (textwrap.dedent('''
        from archprof.ops import Op, register

        @register("relu")
        class Mine(Op):
            pass
    '''), "plugin 'broken': op 'relu' is already registered"),
])
def test_broken_plugins_are_one_line(tmp_path, body, message):
    (tmp_path / "broken.py").write_text(body)
    result = cli("check", "lenet5", "--plugin", "broken", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr
