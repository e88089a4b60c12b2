"""``archprof sweep``: every grid point costed without torch, equal to analysing that variant."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from archprof import load_spec
from archprof.analysis import analyze
from archprof.analysis.sweep import Sweep, parse_grid, summary, sweep
from archprof.errors import ArchprofError

GRID = {"base_width": [32, 48], "depths": [[2, 2, 2, 2], [3, 4, 6, 3]], "groups": [1, 4]}


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_sampled_rows_equal_the_analysis_of_the_same_variant():
    result = sweep("resnet50", GRID, sort=None)
    assert result.variants == 8 and len(result.rows) == 8 and not result.rejected
    for row in result.rows[::3]:
        values = {k: row[k] for k in GRID}
        traced = analyze(load_spec("resnet50", params=values)).totals
        assert {k: row[k] for k in ("params", "macs", "flops", "activation_bytes")} == \
            {k: traced[k] for k in ("params", "macs", "flops", "activation_bytes")}, values


def test_a_row_equals_the_command_line_analysis_with_param(tmp_path):
    proc = _run("sweep", "resnet18", "--grid", "base_width=[40]", "--grid", "stride_in_1x1=[true]", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["base_width"] == 40 and row["stride_in_1x1"] is True
    analysed = _run("analyze", "resnet18", "--param", "base_width=40", "--param", "stride_in_1x1=true", "--format", "json")
    totals = json.loads(analysed.stdout)["totals"]
    assert {k: row[k] for k in ("params", "macs", "flops", "activation_bytes")} == \
        {k: totals[k] for k in ("params", "macs", "flops", "activation_bytes")}


def test_flops_ratio_is_over_the_spec_as_written_and_filters_like_any_column():
    result = sweep("resnet18", {"base_width": [32, 64, 96]}, params={"num_classes": 10}, where="flops_ratio >= 1", sort="base_width")
    own = analyze(load_spec("resnet18", params={"num_classes": 10})).totals["flops"]
    assert [r["base_width"] for r in result.rows] == [64, 96] and result.filtered == 1
    assert result.rows[0]["flops_ratio"] == 1.0 and result.rows[1]["flops_ratio"] == result.rows[1]["flops"] / own > 2


def test_variants_the_spec_rejects_are_counted_and_listed(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(textwrap.dedent('''
        name: net
        input: [3, 32, 32]
        params: {width: 16, groups: 1}
        layers:
          - {op: conv, out: width, kernel: 3, padding: 1}
          - {op: conv, out: width, kernel: 3, padding: 1, groups: groups}
          - {op: adaptive_avgpool}
          - {op: flatten}
          - {op: linear, out: 10}
    '''))
    result = sweep(str(spec), {"width": [12, 16, 20], "groups": [1, 8]})
    assert result.variants == 6 and len(result.rows) == 4 and len(result.rejected) == 2
    assert {(r["width"], r["groups"]) for r in result.rejected} == {(12, 8), (20, 8)}
    assert all("groups=8 must divide" in r["error"] for r in result.rejected)
    proc = _run("sweep", str(spec), "--grid", "width=[12, 16, 20]", "--grid", "groups=[1, 8]")
    assert proc.returncode == 0, proc.stderr
    rejected = [line for line in proc.stderr.splitlines() if line.startswith("rejected ")]
    assert len(rejected) == 2 and "width=12, groups=8" in rejected[0]
    assert "4 shown" in proc.stdout and "2 rejected by the spec" in proc.stdout


def test_where_sort_and_top():
    everything = sweep("resnet50", GRID)
    cheap = sweep("resnet50", GRID, where="macs <= 1.5e9 and params < 10e6", sort="-params", top=2)
    expected = sorted((r for r in everything.rows if r["macs"] <= 1.5e9 and r["params"] < 10e6), key=lambda r: -r["params"])[:2]
    assert [r["params"] for r in cheap.rows] == [r["params"] for r in expected]
    assert cheap.filtered == sum(1 for r in everything.rows if not (r["macs"] <= 1.5e9 and r["params"] < 10e6))
    assert cheap.cut == len(everything.rows) - cheap.filtered - 2 > 0
    assert f"{cheap.cut} more past --top" in " ".join(summary(cheap))
    assert [r["macs"] for r in everything.rows] == sorted(r["macs"] for r in everything.rows)


def test_the_pareto_front_is_what_no_row_dominates():
    rows = sweep("resnet50", {"width_per_group": [16, 32, 64], "groups": [1, 2, 8]}, input_shape=None).rows
    for row in rows:
        dominated = any(o["macs"] <= row["macs"] and o["params"] <= row["params"] and (o["macs"], o["params"]) != (row["macs"], row["params"])
                        for o in rows)
        assert row["pareto"] is not dominated


def test_parallel_equals_sequential():
    grid = {"base_width": list(range(16, 80, 16)), "depths": [[1, 1, 1, 1], [2, 2, 2, 2]], "groups": [1, 2]}
    one, two = sweep("resnet18", grid, jobs=1), sweep("resnet18", grid, jobs=2)
    assert one.rows == two.rows and one.rejected == two.rejected


def test_formats_and_plot(tmp_path):
    common = ["sweep", "resnet18", "--grid", "base_width=list(range(16, 48, 16))", "--grid", "depths=[[1,1,1,1],[2,2,2,2]]"]
    md = _run(*common, "--format", "md")
    assert md.returncode == 0 and md.stdout.split("|")[1:3] == [" base_width   ", " depths    "], md.stdout
    csv = _run(*common, "--format", "csv", "-o", str(tmp_path / "s.csv"), "--plot", str(tmp_path / "s.png"))
    assert csv.returncode == 0, csv.stderr
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "base_width,depths,params,macs,flops,activation_bytes,flops_ratio,pareto"
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = subprocess.run([sys.executable, "-m", "archprof", *common], capture_output=True, text=True, env={"COLUMNS": "80", **_path_env()})
    assert table.returncode == 0 and max(map(len, table.stdout.splitlines())) <= 80, table.stdout


def _path_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}


@pytest.mark.parametrize("args, message", [
    (["--grid", "base_width"], "--grid must look like KEY=EXPR"),
    (["--grid", "base_width=64"], "--grid base_width: expected a non-empty list, got 64"),
    (["--grid", "base_width=[1,"], "--grid base_width: not a valid expression"),
    (["--grid", "widht=[1, 2]"], "--grid widht: resnet18 has no parameter of that name"),
    (["--grid", "base_width=[32]", "--where", "macs < 1e9 and flps > 0"], "--where: unknown name 'flps'"),
    (["--grid", "base_width=[32]", "--where", "macs + 1"], "--where must be true or false"),
    (["--grid", "base_width=list(range(1000))", "--grid", "groups=list(range(1, 200))"], "more than 100,000 variants"),
    (["--grid", "base_width=[32]", "--sort", "speed"], "--sort speed: not a column"),
    (["--grid", "base_width=[32]", "--plot", "out.svg"], "the plot is written as PNG"),
])
def test_mistakes_are_one_line_and_exit_2(args, message, tmp_path):
    proc = _run("sweep", "resnet18", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr


def test_parse_grid_refuses_a_key_twice():
    with pytest.raises(ArchprofError, match="given twice"):
        parse_grid(["a=[1]", "a=[2]"])
    assert isinstance(sweep("lenet5", {"num_classes": [10]}), Sweep)


def test_a_plugin_op_without_a_cost_rule_is_one_line_even_from_the_workers(tmp_path):
    (tmp_path / "myops.py").write_text(textwrap.dedent('''
        from archprof.ops import Op, register
        from torch import nn

        @register("double")
        class Double(Op):
            def shape(self, x):
                return x

            def build(self, x):
                return nn.Identity()
    '''))
    (tmp_path / "net.yaml").write_text("name: net\ninput: [3, 8, 8]\nparams: {w: 4}\nlayers:\n  - {op: conv, out: w, kernel: 3}\n  - {op: double}\n")
    proc = _run("sweep", "net.yaml", "--plugin", "myops.py", "--grid", "w=list(range(1, 80))", "--jobs", "2", cwd=tmp_path)
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.strip() == ("archprof: error: layer '1': op 'double' has no pure-Python cost rule; a sweep costs its variants "
                                   "without torch, so each op needs a cost() (specs/README.md, 'Your own ops')")


def _forget_everything_resolved() -> None:
    from archprof.analysis import fast
    from archprof.spec import plan

    for cache in (plan._BLOCKS, plan._BLOCK_SOURCES, plan._LEAVES, fast._COSTS, fast._TOTALS):
        cache.clear()


@pytest.mark.parametrize("source,grid", [
    ("resnet50", GRID),
    ("efficientnet_b0", {"width_mult": [1.0, 1.1], "depth_mult": [1.0, 1.2], "bn_eps": [1e-5, 1e-3]}),
    ("tests/analysis/specs/block_reads_globals.yaml", {"k": [1, 3], "tag": ["a", "b"], "gate": [True, False]}),
])
def test_what_variants_share_is_what_each_would_resolve_alone(source, grid):
    """Blocks, layers and costs are reused across variants only where nothing they read differs."""
    from archprof.analysis.fast import analyze_fast, totals_fast
    from archprof.spec.plan import resolve

    _forget_everything_resolved()
    shared = {}
    combos = [dict(zip(grid, values)) for values in __import__("itertools").product(*grid.values())]
    for values in combos:
        spec = load_spec(source, params=values)
        plan = resolve(spec)
        shared[str(values)] = (totals_fast(plan.root, plan.input_shape), analyze_fast(spec).to_dict()["layers"])
    for values in combos:
        _forget_everything_resolved()
        spec = load_spec(source, params=values)
        plan = resolve(spec)
        assert (totals_fast(plan.root, plan.input_shape), analyze_fast(spec).to_dict()["layers"]) == shared[str(values)], values
