"""`archprof gate` and the `archprof_gate` pytest fixture, as a user runs them on their own models."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof.cli import main
from archprof.gate import snapshot
from archprof.spec.budgets import BudgetError, parse

REPO = Path(__file__).resolve().parents[2]

NET = '''
import torch
from torch import nn


def make():
    return nn.Sequential(
        nn.Conv2d(3, {width}, 3, padding=1, bias=False), nn.BatchNorm2d({width}), nn.ReLU(),
        nn.Conv2d({width}, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )
'''


def write_net(folder: Path, width: int = 8) -> Path:
    path = folder / "net.py"
    path.write_text(NET.format(width=width))
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """archprof installed the way a user installs it: a wheel (not editable) in a fresh venv, whose
    only link to this environment is its dependencies (torch and the rest are not reinstalled)."""
    root = tmp_path_factory.mktemp("venv")
    isolation = [] if importlib.util.find_spec("setuptools") else ["--use-pep517"]
    flags = ["--no-build-isolation"] if not isolation else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *flags, str(REPO), "-w", str(root / "dist")],
                   check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
    purelib = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies come from this environment's site-packages, listed after the venv's own
    # (a path in a .pth file is not a site dir: this environment's editable archprof is not seen)
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    wheel = next((root / "dist").glob("archprof-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "venv" / "bin" / "python"), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    script = root / "venv" / "bin" / "archprof"
    assert script.is_file()
    return script


def run(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_installed_command_in_a_user_project(installed, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    write_net(project)
    where = run(installed, project, "analyze", "net.py:make", "--input", "3x32x32", "--format", "json")
    assert where.returncode == 0, where.stderr
    probe = subprocess.run([str(installed.parent / "python"), "-c", "import archprof; print(archprof.__file__)"],
                           cwd=project, capture_output=True, text=True)
    assert "site-packages" in probe.stdout and str(REPO) not in probe.stdout, probe.stdout   # not this checkout

    blessed = run(installed, project, "gate", "net.py:make", "--input", "3x32x32", "--baselines", "b", "--bless")
    assert blessed.returncode == 0, blessed.stdout + blessed.stderr
    baseline = project / "b" / "net-make.md"
    assert baseline.is_file() and ":" not in baseline.name
    assert "wrote b/net-make.md (new)" in blessed.stderr

    passed = run(installed, project, "gate", "net.py:make", "--input", "3x32x32", "--baselines", "b")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "all 1 model(s) hold" in passed.stdout

    write_net(project, width=12)
    changed = run(installed, project, "gate", "net.py:make", "--input", "3x32x32", "--baselines", "b")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "~ 0 (Conv2d): output '1x8x32x32' -> '1x12x32x32'; params 216 -> 324 (+108)" in changed.stdout
    assert "~ 3 (Conv2d): params 1,168 -> 1,744 (+576)" in changed.stdout
    assert "--bless" in changed.stdout

    budget = run(installed, project, "gate", "net.py:make", "--input", "3x32x32", "--baselines", "b", "--bless",
                 "--budget", "params<=1K")
    assert budget.returncode == 1, budget.stdout + budget.stderr
    assert "budget params<=1K broken: params is 2,262 (2.26 K), 1,262 (1.26 K) over the limit (126.2% of the limit)" in budget.stdout

    malformed = run(installed, project, "gate", "net.py:make", "--baselines", "b", "--budget", "params<=lots")
    assert malformed.returncode == 2
    assert malformed.stderr.count("\n") == 1 and "Traceback" not in malformed.stderr
    assert malformed.stderr.startswith("archprof: error: budget 'params<=lots': expected FIELD<=NUMBER[UNIT]")


def gate(args: list[str]):
    return CliRunner().invoke(main, ["gate", *args])


def test_missing_baseline_names_the_command_that_records_it(tmp_path):
    result = gate(["lenet5", "--baselines", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert f"no baseline at {tmp_path / 'b' / 'lenet5.md'}; record it with: archprof gate lenet5 --baselines" in result.stdout
    assert not (tmp_path / "b").exists()   # checking writes nothing


def test_markdown_for_a_pr_page_and_json_for_machines(tmp_path):
    folder = tmp_path / "b"
    assert gate(["lenet5", "resnet18", "--baselines", str(folder), "--bless"]).exit_code == 0
    text = (folder / "lenet5.md").read_text()
    (folder / "lenet5.md").write_text(text.replace("| c3 | Conv2d | 1x16x10x10 | 2416 |", "| c3 | Conv2d | 1x16x10x10 | 2000 |")
                                      .replace("| params | 61706 |", "| params | 61290 |"))
    md = gate(["lenet5", "resnet18", "--baselines", str(folder), "--format", "md", "--budget", "macs<=1G"])
    assert md.exit_code == 1
    lines = md.stdout.splitlines()
    assert lines[0] == "## archprof gate" and "2 of 2 model(s) fail: lenet5, resnet18" in md.stdout
    row = next(line for line in lines if line.startswith("| lenet5"))
    assert "CHANGED" in row and "+416" in row and "1 held" in row
    assert next(line for line in lines if line.startswith("| resnet18")).count("broken: macs<=1G") == 1
    assert "<details><summary>lenet5: CHANGED, failing</summary>" in md.stdout
    assert "~ c3 (Conv2d): params 2,000 -> 2,416 (+416)" in md.stdout   # unindented inside ```diff
    data = json.loads(gate(["lenet5", "--baselines", str(folder), "--format", "json"]).stdout)
    (result,) = data["results"]
    assert data["ok"] is False and result["status"] == "changed" and result["deltas"]["params"] == 416


def test_tolerances_accept_drift_but_not_changes_of_shape(tmp_path):
    folder = tmp_path / "b"
    assert gate(["lenet5", "--baselines", str(folder), "--bless"]).exit_code == 0
    path = folder / "lenet5.md"
    text = path.read_text()
    path.write_text(text.replace("| macs | 416520 |", "| macs | 415000 |"))   # -0.37%
    assert gate(["lenet5", "--baselines", str(folder)]).exit_code == 1
    relaxed = gate(["lenet5", "--baselines", str(folder), "--tolerance", "macs=0.5%"])
    assert relaxed.exit_code == 0, relaxed.stdout
    assert "1 figure(s) moved within the tolerances" in relaxed.stdout
    assert gate(["lenet5", "--baselines", str(folder), "--tolerance", "macs=0.1%"]).exit_code == 1
    path.write_text(text.replace("| c3 | Conv2d | 1x16x10x10 |", "| c3 | Conv2d | 1x16x9x9 |"))
    assert gate(["lenet5", "--baselines", str(folder), "--tolerance", "all=50%"]).exit_code == 1


def test_other_versions_are_named_in_the_failure(tmp_path):
    folder = tmp_path / "b"
    assert gate(["lenet5", "--baselines", str(folder), "--bless"]).exit_code == 0
    path = folder / "lenet5.md"
    text = path.read_text()
    path.write_text(text.replace("| torch | ", "| torch | 1.0.0-old ").replace("| flops | 878402 |", "| flops | 878400 |"))
    result = gate(["lenet5", "--baselines", str(folder)])
    assert result.exit_code == 1
    assert "the baseline was recorded with torch 1.0.0-old" in result.stdout
    path.write_text(text.replace("| torch | ", "| torch | 1.0.0-old "))
    assert gate(["lenet5", "--baselines", str(folder)]).exit_code == 0   # same figures: versions alone never fail


def test_spec_budgets_are_checked_by_gate_and_verify(tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(f"extends: {REPO / 'specs' / 'lenet5.yaml'}\nbudgets: ['params<=50K', 'peak_activation<=1MiB']\n")
    result = gate([str(spec), "--baselines", str(tmp_path / "b"), "--bless"])
    assert result.exit_code == 1 and "budget params<=50K broken: params is 61,706" in result.stdout
    assert "peak_activation<=1MiB" not in result.stdout.split("budget params<=50K")[1]   # the other one holds
    verified = CliRunner().invoke(main, ["verify", str(spec), "--no-equivalence", "--format", "json"])
    rows = {r["check"]: r for r in json.loads(verified.stdout)}
    assert verified.exit_code == 1
    assert rows["budget params<=50K"]["status"] == "FAIL" and rows["budget peak_activation<=1MiB"]["status"] == "PASS"
    spec.write_text(f"extends: {REPO / 'specs' / 'lenet5.yaml'}\nbudgets:\n  - params<=50K\n  - params<=5MiB\n")
    bad = CliRunner().invoke(main, ["check", str(spec)])
    assert bad.exit_code == 2
    assert bad.output.strip() == f"archprof: error: {spec}:4: budgets[1]: budget 'params<=5MiB': unit 'MiB' does not fit params (count; units: K, M, G, T or none)"


@pytest.mark.parametrize("text,field,op,limit", [
    ("params<=5M", "params", "<=", 5e6), ("macs < 600e6", "macs", "<", 600e6), ("peak_activation<=64MiB", "peak_activation", "<=", 64 * 2**20),
    ("train_memory_adamw<=2GiB", "train_memory_adamw", "<=", 2 * 2**30), ("flops<1.5G", "flops", "<", 1.5e9),
    ("activation_bytes<=10MB", "activations", "<=", 10e6), ("params>=1_000", "params", ">=", 1000),
])
def test_budget_syntax(text, field, op, limit):
    budget = parse(text)
    assert (budget.field, budget.op, budget.limit) == (field, op, limit)


@pytest.mark.parametrize("text,message", [
    ("params=5M", "expected FIELD<=NUMBER[UNIT]"), ("weight<=5M", "unknown field 'weight'"), ("macs<=5MiB", "unit 'MiB' does not fit macs"),
    ("peak_activation<=5M", "unit 'M' does not fit peak_activation"), ("params<=1e400", "too large"), ("p" * 200, "short text"),
])
def test_budget_errors(text, message):
    with pytest.raises(BudgetError, match=re.escape(message)):
        parse(text)


@pytest.mark.parametrize("label,name", [
    ("torchvision:resnet18", "torchvision-resnet18"), ("src/models/net.py:make", "net-make"), ("timm:vit_base_patch16_224.augreg", "timm-vit_base_patch16_224.augreg"),
    ("a b/c", "a-b-c"), ("CON", "CON_"), ("nul.txt", "nul.txt_"), (":::", "model"),
])
def test_baseline_names_are_valid_everywhere(label, name):
    assert snapshot.safe_name(label) == name


def test_bad_options_are_one_line(tmp_path):
    for args, message in [(["lenet5", "--baselines", str(tmp_path), "--tolerance", "macs"], "--tolerance must look like FIELD=PCT"),
                          (["nosuchspec", "--baselines", str(tmp_path)], "no spec file or bundled spec named 'nosuchspec'"),
                          (["lenet5"], "Missing option '--baselines'")]:
        result = gate(args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output


def test_pytest_fixture(pytester):
    pytester.makepyfile(net=NET.format(width=8))
    pytester.makepyfile(test_net=textwrap.dedent('''
        import net

        def test_net_is_unchanged(archprof_gate):
            result = archprof_gate.check(net.make(), input=(3, 32, 32), name="mynet", budgets=["params<=1M"])
            assert result.status in ("pass", "written")
    '''))
    missing = pytester.runpytest_subprocess()
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*mynet: no baseline at *archprof_baselines/mynet.md; record it with: pytest --archprof-bless*"])

    pytester.runpytest_subprocess("--archprof-bless").assert_outcomes(passed=1)
    assert (pytester.path / "tests" / "archprof_baselines" / "mynet.md").is_file()
    pytester.runpytest_subprocess().assert_outcomes(passed=1)

    pytester.makepyfile(net=NET.format(width=12))
    changed = pytester.runpytest_subprocess()
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines(["*mynet: the analysis differs from*",
                                  "*~ 0 (Conv2d): output '1x8x32x32' -> '1x12x32x32'; params 216 -> 324 (+108)*",
                                  "*If the change is intended, re-bless with: pytest --archprof-bless*"])
    other = pytester.runpytest_subprocess("--archprof-baselines", str(pytester.path / "elsewhere"))
    other.stdout.fnmatch_lines(["*no baseline at *elsewhere/mynet.md*"])


DEEP = '''
from torch import nn

DEPTH = {depth}


def make():
    return nn.Sequential(*[nn.Linear(512, 512) for _ in range(DEPTH)])
'''


def test_cpu_speed_gate_fails_when_the_cost_doubles(tmp_path, monkeypatch):
    """Reference units on the 2-core runner: two checks of the unchanged model pass; twice the
    layers (twice the work per step) is more than 50% slower than its baseline and fails."""
    monkeypatch.chdir(tmp_path)
    net = tmp_path / "deep.py"
    args = ["deep.py:make", "--input", "512", "--baselines", "b", "--speed", "--speed-batch", "64", "--format", "json"]

    def speed(*extra: str) -> dict:
        result = gate([*args, *extra])
        data = json.loads(result.stdout)
        (run,) = data["results"][0]["speed"]
        assert result.exit_code == (0 if data["ok"] else 1), result.output
        return run

    net.write_text(DEEP.format(depth=8))
    blessed = speed("--bless")
    assert blessed["status"] == "written" and blessed["unit"] == "reference units" and len(blessed["rounds"]) == 5
    stored = json.loads((tmp_path / "b" / "deep-make.speed.json").read_text())
    assert list(stored["records"]) == [blessed["key"]] and blessed["key"] == "cpu infer batch 64 fp32 threads 1"
    for _ in range(2):
        again = speed()
        assert again["status"] == "pass", again["message"]
    net.write_text(DEEP.format(depth=16))
    doubled = speed()
    assert doubled["status"] == "slower", doubled["message"]
    assert doubled["median"] / doubled["baseline"] > 1.5, doubled["rounds"]
    assert "more than 50% slower" in doubled["message"]


def test_speed_of_a_module_instance_leaves_it_untouched(tmp_path):
    import torch

    from archprof.gate.check import GateOptions, run_gate
    from archprof.gate.speed import SpeedOptions

    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    options = GateOptions(tmp_path, bless=True, input_shape=(64,), speed=SpeedOptions(modes=("infer", "train"), batch=4, rounds=1))
    result = run_gate(model, options, name="tiny")
    assert [r.mode for r in result.speed] == ["infer", "train"] and all(r.status == "written" for r in result.speed)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and model.training
    with torch.device("meta"):
        ghost = torch.nn.Linear(4, 4)
    with pytest.raises(Exception, match="meta device has no weights to time"):
        run_gate(ghost, GateOptions(tmp_path, input_shape=(4,), speed=SpeedOptions(rounds=1)), name="ghost")
