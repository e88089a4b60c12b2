"""Markdown reports (``archprof report``) and side-by-side comparisons (``archprof diff``)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archprof import report
from archprof.cli import main
from archprof.text import human

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO / "reports"
SUBSET = ["lenet5", "resnet18"]

BENCH = {
    "spec": "resnet18",
    "device": {"name": "NVIDIA H100 80GB HBM3", "type": "cuda", "torch": "2.14.1", "cuda": "13.0"},
    "command": "archprof bench resnet18 --batch 256",
    "results": [{"mode": "inference", "batch": 256, "dtype": "bf16", "throughput": 12345.678, "latency_ms": 20.7},
                {"mode": "inference", "batch": 1, "dtype": "fp32", "throughput": 1500.0, "latency_ms": 0.67}],
}


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reports_are_deterministic(tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "bench").mkdir(parents=True)
    (inputs / "bench" / "resnet18.json").write_text(json.dumps(BENCH))
    specs = report.select(SUBSET)
    first, second = tmp_path / "first", tmp_path / "second"
    report.generate(specs, first, inputs=inputs)
    report.generate(specs, second, inputs=inputs)
    a, b = files(first), files(second)
    assert set(a) == {"README.md", "lenet5.md", "resnet18.md", "img/.generated", "img/zoo-accuracy-vs-macs.png", "img/zoo-params-vs-macs.png",
                      *(f"img/{n}-{k}.png" for n in SUBSET for k in ("stages", "layers", "rf"))}
    assert a == b
    text = a["resnet18.md"].decode()
    # no absolute paths, no timestamps; the benchmark contract is rendered with its device fingerprint
    assert str(tmp_path) not in text and str(REPO) not in text
    assert not re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", text)
    assert "NVIDIA H100 80GB HBM3" in text and "| 12,346 |" in text
    assert "12,346 img/s (dtype bf16, batch 256)" in a["README.md"].decode()
    for png in (p for p in a if p.endswith(".png")):
        assert b"tIME" not in a[png] and b"Software" not in a[png], png


def test_check_finds_stale_files_and_tolerates_other_library_versions(tmp_path):
    out = tmp_path / "reports"
    assert run("report", "lenet5", "--index", "--out", str(out), "-q").exit_code == 0
    assert run("report", "lenet5", "--check", "--out", str(out)).exit_code == 0
    index = (out / "README.md").read_text()
    # other library versions: version text and PNG bytes are not compared, the rest still is
    (out / "README.md").write_text(index.replace(report.versions_text(), "torch 0.0 · torchvision 0.0 · matplotlib 0.0 · archprof 0.0"))
    (out / "img" / "lenet5-rf.png").write_bytes(b"other pixels")
    assert run("report", "lenet5", "--check", "--out", str(out)).exit_code == 0
    (out / "lenet5.md").write_text((out / "lenet5.md").read_text().replace("61,706", "61,707"))
    stale = run("report", "lenet5", "--check", "--out", str(out))
    assert stale.exit_code == 1
    command = f"archprof report lenet5 --verify-stale --out {out}"
    assert stale.output.strip().splitlines()[-1] == f"archprof: {out} is stale (lenet5.md); regenerate with: {command}"
    differ, same = report.compare(out, out)
    assert differ == [] and same is False


def test_report_content_matches_the_analyser(tmp_path):
    from archprof.analysis import analyze

    report.generate(report.select(["resnet18"]), tmp_path, inputs=tmp_path / "none", index=False)
    text = (tmp_path / "resnet18.md").read_text()
    t = analyze("resnet18").totals
    for key in ("params", "macs", "flops"):
        assert f"{t[key]:,}" in text
    assert f"| inference peak activation memory | {human(t['peak_activation_bytes'], 'B')} |" in text
    assert "../README.md" not in text and "the Units and conventions of archprof's README" in text  # none beside it
    assert "| params | 11,689,512 | 11,689,512 | exact | PASS |" in text
    assert "## Uncounted ops\n\nNone" in text
    assert "<details><summary>" in text and "| layer4 | layer4 | seq |" in text  # depth-1 stages for ResNet
    assert "| stem | conv1 … maxpool | stem |" in text and "| head | avgpool … fc | head |" in text
    for kind in ("stages", "layers", "rf"):
        assert f"](img/resnet18-{kind}.png)" in text and (tmp_path / "img" / f"resnet18-{kind}.png").is_file()


def test_index_paper_columns_come_from_the_spec_figures(tmp_path):
    from archprof.analysis import analyze

    spec = tmp_path / "specs" / "my_resnet.yaml"
    spec.parent.mkdir()

    def write(top1: float) -> str:
        spec.write_text(
            "extends: families/resnet.yaml\nvariant: resnet18\nfigures:\n"
            f"  - {{metric: top1, value: {top1}, unit: '%', dataset: ImageNet-1k val, source: test}}\n"
            "  - {metric: top5, value: 88.125, unit: '%', dataset: ImageNet-1k val, source: test}\n")
        out = tmp_path / f"out{top1}"
        report.generate(report.select([str(spec)]), out, inputs=tmp_path / "none", index=True)
        return (out / "README.md").read_text()

    first, second = write(12.345), write(54.321)
    row = next(line for line in first.splitlines() if line.startswith("| [my_resnet](my_resnet.md)"))
    t = analyze("resnet18").totals  # computed columns: the analyser's numbers, the same architecture
    assert f"| {human(t['params'])} | {human(t['macs'])} | {human(t['flops'])} | {human(t['activation_bytes'], 'B')} |" in row
    assert "| 12.345 | 88.125 |" in row
    assert "| 54.321 | 88.125 |" in second and "12.345" not in second


def test_committed_reports_are_current():
    """reports/ must be what the code generates now, for the whole zoo (about a minute or two)."""
    assert (REPORTS / "README.md").is_file(), f"reports/ is missing: generate it with `{report.REFRESH}`"
    differ, _ = report.check(REPORTS, report.select([]))
    shown = ", ".join(differ[:5]) + (" ..." if len(differ) > 5 else "")
    assert not differ, f"reports/ is stale ({shown}): regenerate with `{report.REFRESH}`"


def test_diff_terminal_and_markdown():
    table = run("diff", "resnet50", "convnext_tiny")
    assert table.exit_code == 0, table.output
    assert "resnet50" in table.output and "convnext_tiny" in table.output
    for stage in ("56x56", "28x28", "14x14", "7x7", "head"):
        assert stage in table.output
    md = run("diff", "resnet50", "convnext_tiny", "--format", "md")
    assert md.exit_code == 0, md.output
    assert md.output.startswith("## resnet50 vs convnext_tiny")
    assert "| params | 25.56 M | 28.59 M | 1.12x |" in md.output
    assert re.search(r"^\| 7x7 \| \d+ \| \d+ \| 1x2048x7x7 \| 1x768x7x7 \|", md.output, re.M), md.output


def test_diff_by_name_pairs_variants():
    from archprof.analysis import analyze
    from archprof.report.diff import diff

    d = diff(analyze("resnet18"), analyze("resnet34"), depth=1)
    names = [(a.name if a else None, b.name if b else None) for a, b in d.rows]
    assert ("layer3", "layer3") in names and all(a == b for a, b in names)
    layer3 = next(pair for pair in d.rows if pair[0].name == "layer3")
    assert layer3[1].macs > layer3[0].macs


@pytest.mark.parametrize("args,message", [
    (["report", "no_such_spec", "--out", "{tmp}"], "no spec file or bundled spec named 'no_such_spec'"),
    (["report", "lenet5", "--all", "--out", "{tmp}"], "give SOURCEs or --all, not both"),
    (["report", "--check", "--verify", "--out", "{tmp}"], "--check compares only"),
    (["report", "lenet5", "--out", "{tmp}/file.txt"], "is a file"),
    (["report", "lenet5", "--out", "{tmp}/badjson"], "invalid JSON"),
    (["report", "resnet18", "--out", "{tmp}/badbench"], "'results' must be a non-empty list"),
    (["diff", "resnet50", "no_such_spec"], "no spec file or bundled spec named 'no_such_spec'"),
    (["diff", "resnet50", "convnext_tiny", "--depth", "0"], "--depth"),
    (["diff", "resnet50"], "Missing argument 'B'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "badjson").mkdir()
    (tmp_path / "badjson" / "verify.json").write_text("[{")
    (tmp_path / "badbench" / "bench").mkdir(parents=True)
    (tmp_path / "badbench" / "bench" / "resnet18.json").write_text(json.dumps({**BENCH, "results": []}))
    result = run(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code == 2, result.output
    out = result.output.strip()
    assert "\n" not in out and "Traceback" not in out, out
    assert out.startswith("archprof: error: ") and message in out, out


def test_diff_pairs_stages_by_resolution_across_families():
    """RegNet's 1x1 convolutions run before their stage's stride; their stages still pair with ResNet's."""
    from archprof.analysis import analyze
    from archprof.report.diff import diff

    d = diff(analyze("torchvision:regnet_y_400mf"), analyze("resnet50"))
    names = [(a.name if a else None, b.name if b else None) for a, b in d.rows]
    assert names == [(n, n) for n in ("112x112", "56x56", "28x28", "14x14", "7x7", "head")], names
