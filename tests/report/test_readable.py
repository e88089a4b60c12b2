"""Reports a person can read: stages as the spec groups them, named plot axes, zoo labels that do
not overlap, one colour per family, links that resolve, and reports on any source."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof import report
from archprof.analysis.rows import stages as split
from archprof.cli import main
from archprof.report import plots
from archprof.report.entry import stage_depth, stages
from archprof.spec import zoo_names
from tests.conftest import analysis

REPO = Path(__file__).resolve().parents[2]
SUMMED = ("params", "macs", "flops", "activation_bytes")


@pytest.mark.parametrize("name", zoo_names())
def test_stages_partition_the_layers(name):
    a = analysis(name)
    depth, parts = stages(a)
    assert depth == stage_depth(a)
    firsts = [p["first"] for p in parts]
    assert firsts[0] == 0 and firsts == sorted(set(firsts))
    ends = firsts[1:] + [len(a.records)]
    for part, start, end in zip(parts, firsts, ends):  # each stage is the sum of its own layers
        members = a.records[start:end]
        for key in SUMMED:
            assert part[key] == sum(r[key] for r in members), (part["name"], key)
        assert part["output_shape"] == members[-1]["output_shape"]
    names = [p["name"] for p in parts]
    assert len(names) == len(set(names)), names
    assert len(parts) <= 40, f"{name}: {len(parts)} stages"


def _row(name, output, params=0):
    return {"name": name, "type": "T", "output_shape": output, "params": params, "trainable_params": params, "macs": 1,
            "flops": 2, "activation_bytes": 4, "rf_size": None, "rf_jump": None, "rf_gated": False, "spatial": None,
            "receptive_field": "", "notes": "", "input_shape": None}


def test_single_layers_around_groups_are_stem_and_head():
    rows = [_row("conv", (1, 8, 16, 16)), _row("relu", (1, 8, 16, 16)), _row("s1.0.a", (1, 8, 16, 16)),
            _row("s1.0.b", (1, 8, 16, 16)), _row("mid", (1, 8, 8, 8)), _row("s2.0", (1, 8, 8, 8)), _row("s2.1", (1, 8, 8, 8)),
            _row("pool", (1, 8, 1, 1)), _row("fc", (1, 10))]
    parts = split(rows, 1, {"s1": "stage", "s2": "stage"})
    assert [(p["name"], p["type"], p["members"]) for p in parts] == [
        ("stem", "stem", "conv … relu"), ("s1", "stage", "s1"), ("mid", "T", "mid"), ("s2", "stage", "s2"),
        ("head", "head", "pool … fc")]


def test_a_model_without_groups_is_split_by_resolution():
    rows = [_row("c1", (1, 6, 28, 28)), _row("act", (1, 6, 28, 28)), _row("pool", (1, 6, 14, 14)), _row("c2", (1, 16, 14, 14)),
            _row("flatten", (1, 3136)), _row("fc", (1, 10))]
    assert [(p["name"], p["members"]) for p in split(rows, 1)] == [
        ("28x28", "c1 … act"), ("14x14", "pool … c2"), ("head", "flatten … fc")]


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the plot functions save, kept open for inspection."""
    kept = []

    def keep(fig, path):
        fig.tight_layout()
        fig.canvas.draw()
        kept.append(fig)

    monkeypatch.setattr(plots, "save_png", keep)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def test_layer_plots_name_the_stages_and_the_heaviest_layers(figures, tmp_path):
    a = analysis("resnet50")
    _, parts = stages(a)
    names = [r["name"] for r in a.records]
    plots.layer_profile(names, [r["macs"] for r in a.records], [r["activation_bytes"] for r in a.records], tmp_path / "x.png",
                        "t", stages=[(p["first"], p["name"]) for p in parts])
    top, bottom = figures[0].axes
    assert [t.get_text() for t in bottom.get_xticklabels()] == [p["name"] for p in parts]
    heaviest = sorted(range(len(names)), key=lambda i: (-a.records[i]["macs"], i))[:3]
    legend = "\n".join(t.get_text() for t in top.texts)
    assert all(f"{rank}. {names[i]}" in legend for rank, i in enumerate(heaviest, 1))


def _zoo_points():
    from archprof.report.folder import analyse
    from archprof.report.index import index_points

    entries = [analyse(t, Path("/nonexistent"), None) for t in report.select([])]
    return index_points(entries)[0]


def _boxes(fig):
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text()]
    return labels, [t.get_window_extent(renderer) for t in labels], ax.get_window_extent(renderer)


def test_zoo_labels_do_not_overlap_and_families_keep_their_colour(figures, tmp_path):
    points = _zoo_points()
    styles = plots.family_styles([p.family for p in points])
    plots.accuracy_vs_macs([p for p in points if p.top1 is not None], tmp_path / "a.png", styles)
    plots.params_vs_macs(points, tmp_path / "b.png", styles)
    colours = []
    for fig, shown in zip(figures, ([p for p in points if p.top1 is not None], points)):
        labels, boxes, frame = _boxes(fig)
        assert sorted(t.get_text() for t in labels) == sorted(p.name for p in shown)
        for i, a in enumerate(boxes):
            assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1, labels[i].get_text()
            for j in range(i):
                assert not a.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
        ax = fig.axes[0]
        colours.append({c.get_label(): tuple(c.get_facecolor()[0]) for c in ax.collections if not c.get_label().startswith("_")})
    shared = set(colours[0]) & set(colours[1])
    assert len(shared) >= 10 and all(colours[0][f] == colours[1][f] for f in shared)


def test_a_clump_of_points_still_gets_separate_labels(figures, tmp_path):
    clump = [plots.Point(f"model_{i}", f"family{i % 3}", 4e9 * (1 + i / 200), 25e6 * (1 + i / 300), 80 + i / 50)
             for i in range(12)]
    plots.accuracy_vs_macs(clump, tmp_path / "a.png")
    _, boxes, _ = _boxes(figures[0])
    assert len(boxes) == 12
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[:i])


LINK = re.compile(r"\]\(([^)#]+)(#[^)]*)?\)")


def _dead_links(folder: Path) -> list[str]:
    dead = []
    for md in folder.glob("*.md"):
        for target, anchor in LINK.findall(md.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            path = (md.parent / target).resolve()
            if not path.exists():
                dead.append(f"{md.name}: {target}")
            elif anchor:
                heads = {"#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                         for h in re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)}
                if anchor not in heads:
                    dead.append(f"{md.name}: {target}{anchor}")
    return dead


def test_committed_reports_link_only_to_what_exists():
    assert _dead_links(REPO / "reports") == []


def test_reports_on_library_and_file_sources_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("net.py").write_text(
        "import torch.nn as nn\n\n"
        "class Net(nn.Sequential):\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))\n")
    sources = ["torchvision:resnet18", "timm:resnet18", "net.py:Net", "resnet18"]
    result = CliRunner().invoke(main, ["report", *sources, "--out", "mine", "--index", "-q"])
    assert result.exit_code == 0, result.output
    out = Path("mine")
    assert {p.name for p in out.glob("*.md")} == {"README.md", "torchvision-resnet18.md", "timm-resnet18.md", "net-Net.md",
                                                   "resnet18.md"}
    assert _dead_links(out) == []
    page = (out / "torchvision-resnet18.md").read_text()
    assert page.splitlines()[2] == "# torchvision:resnet18"
    assert "`archprof analyze torchvision:resnet18 --depth 1`" in page and "| stem | conv1 … maxpool | stem |" in page
    assert "Paper figures" not in page and "11,689,512" in page
    command = "archprof report torchvision:resnet18 timm:resnet18 net.py:Net resnet18 --verify-stale --out mine"
    assert f"`{command} --index`" in (out / "README.md").read_text()
    spec_page = (out / "resnet18.md").read_text()  # no verify.json here: its own command, not the repository's
    assert f"(run `{command}`)" in spec_page and "--all" not in spec_page
    check = CliRunner().invoke(main, ["report", *sources, "--out", "mine", "--index", "--check"])
    assert check.exit_code == 0, check.output


def test_two_sources_with_one_report_name_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["report", "torchvision:resnet18", "torchvision:resnet18", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "two sources give the report name 'torchvision-resnet18'" in result.output
