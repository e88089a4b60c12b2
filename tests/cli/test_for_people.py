"""Output for people: tables that fit the width they are given, readable layer names, a result
object for notebooks, and long commands that say what they do."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from archprof.analysis.render import render
from archprof.analysis.rows import tree
from archprof.text import rich_rows

from conftest import ZOO, analysis


def cli(*args: str, columns: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, env=env, timeout=600, **kwargs)


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.mark.parametrize("columns,args", [
    (80, ["analyze", "resnet50"]),
    (80, ["analyze", "efficientnet_b0", "--depth", "2"]),
    (80, ["zoo"]),
    (120, ["diff", "resnet50", "convnext_tiny"]),
    (100, ["verify", "lenet5", "resnet18"]),
])
def test_tables_fit_the_width_they_are_given(columns, args):
    proc = cli(*args, columns=columns)
    assert proc.returncode == 0, proc.stderr
    assert widest(proc.stdout) <= columns, proc.stdout
    assert "\x1b[" not in proc.stdout   # no colour in a pipe


def test_a_pipe_without_columns_gets_80():
    proc = cli("analyze", "resnet50")
    assert proc.returncode == 0, proc.stderr
    assert widest(proc.stdout) <= 80


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_spec_fits_every_width(name, width):
    text = render(analysis(name), "table", width=width)
    assert widest(text) <= width
    assert text.splitlines()[1].split()[0] == "layer"   # the names are never dropped


def test_dropped_columns_are_named_and_come_back_with_room():
    a = analysis("resnet50")
    narrow, wide = render(a, "table", width=80), render(a, "table", width=200)
    assert "not shown at 80 columns:" in narrow and "type" in narrow.split("not shown at 80 columns:")[1]
    assert "not shown" not in wide and "FLOPs" in wide.splitlines()[1]


def test_columns_choose_exactly_those():
    text = render(analysis("resnet50"), "table", 1, columns=["layer", "MACs", "RF"])
    assert text.splitlines()[1].split() == ["layer", "MACs", "receptive", "field"]
    proc = cli("analyze", "lenet5", "--columns", "layer,nope")
    assert proc.returncode == 2 and "no column 'nope'" in proc.stderr and proc.stderr.count("\n") == 1


def test_other_formats_keep_every_layer_and_column():
    a = analysis("resnet50")
    rows = json.loads(render(a, "json"))["layers"]
    assert len(rows) == len(a.records)
    assert render(a, "csv").splitlines()[0].startswith("name,type,input_shape,output_shape,params")


def test_the_tree_sums_its_groups():
    a = analysis("resnet50")
    rows = tree(a.records, 2, a.module_types)
    layer1 = next(r for r in rows if r["name"] == "layer1")
    members = [r for r in rows if r["name"].startswith("layer1.") and r["level"] == 1]
    assert layer1["group"] and layer1["type"] == "seq" and [m["type"] for m in members] == ["bottleneck"] * 3
    for key in ("params", "macs", "flops", "activation_bytes"):
        assert layer1[key] == sum(m[key] for m in members) == sum(r[key] for r in a.records if r["name"].startswith("layer1."))
    assert sum(r["macs"] for r in rows if r["level"] == 0) == a.totals["macs"]


def test_the_default_tree_is_readable():
    for name in ("resnet50", "vit_b_16", "efficientnet_b0", "lenet5"):
        text = render(analysis(name), "table", width=120)
        assert len(text.splitlines()) < 60, name


def test_unnamed_layers_are_named_after_their_op():
    names = [r["name"] for r in analysis("resnet50").records]
    assert "layer1.0.add" in names and "layer1.0.relu_3" in names and "flatten" in names
    assert not any(part.isdigit() for name in names for part in name.split(".")[-1:] if name.startswith("layer1.0.relu"))
    lenet = [r["name"] for r in analysis("lenet5").records]
    assert lenet == ["c1", "tanh_1", "s2", "c3", "tanh_2", "s4", "c5", "tanh_3", "flatten", "f6", "tanh_4", "output"]


def test_functional_ops_of_library_models_get_readable_names():
    from archprof.analysis import analyze

    rows = analyze("torchvision:resnet18").records
    adds = [r["name"] for r in rows if r["type"] == "add_"]
    assert adds[:2] == ["layer1.0.add", "layer1.1.add"] and len(adds) == len(set(adds)) == 8


def test_the_result_shines_in_a_notebook():
    a = analysis("lenet5")
    assert len(repr(a)) < 120 and "lenet5" in repr(a) and "61.71 K params" in repr(a)
    page = a._repr_html_()
    assert page.count("<tr>") == len(a.records) + 1 and "<table>" in page and "61,706" in page
    assert "| layer" in a._repr_markdown_()
    text = str(a)
    assert "params 61,706" in text and "c1" in text
    from rich.text import Text

    assert isinstance(a.table(depth=1), Text) and "MACs" in str(a.table(columns=["layer", "MACs"]))


def test_rich_rows_never_reads_markup():
    text = rich_rows(["a", "b"], [["[bold]x[/bold]", "[1, 2]"]], None, width=40)
    assert "[bold]x[/bold]" in text and "[1, 2]" in text


def test_zoo_has_one_precision_per_column_and_a_dataset():
    proc = cli("zoo", "--format", "json")
    rows = json.loads(proc.stdout)
    lenet = next(r for r in rows if r["spec"] == "lenet5")
    assert lenet["dataset"] == "MNIST test" and lenet["top-1 %"] == 96.5
    table = cli("zoo", columns=200).stdout.splitlines()
    header = table[1].split()
    assert "dataset" in header
    cells = [line[table[1].index("params (M)"):table[1].index("params (M)") + 10].strip() for line in table[3:-1] if line.strip()]
    assert cells and all(c == "" or len(c.split(".")[-1]) == 2 for c in cells)


def test_verify_has_totals_a_legend_and_public_sources():
    proc = cli("verify", "lenet5", columns=100)
    assert proc.returncode == 0, proc.stderr
    assert "checks of 1 spec:" in proc.stdout and "INFO: a published figure" in proc.stdout
    assert "shared/" not in proc.stdout and "seeds/" not in proc.stdout
    info = [line for line in proc.stdout.splitlines() if " INFO " in line]
    assert info and all("exact" not in line and "±" not in line for line in info)


def test_verify_never_cites_private_material():
    for name in ZOO:
        from archprof import load_spec

        for f in load_spec(name).figures:
            assert "shared/" not in f.source and "seeds/" not in f.source, (name, f.source)
