"""The zoo index (README.md of the reports folder) with its plots, and verify.md."""
from __future__ import annotations

from pathlib import Path

from archprof.report.entry import Entry, Links, first_figure, is_imagenet, is_pretrained, verify_status
from archprof.report.inputs import gpu_throughput
from archprof.report.markdown import MARK, REFRESH, md_table
from archprof.spec import Figure
from archprof.text import human


def _paper_cell(f: Figure | None) -> str:
    if f is None:
        return ""
    text = f"{f.value:g}"
    if not is_imagenet(f):
        text += f" ({f.dataset})"
    elif is_pretrained(f):
        text += " (22k pre-trained)" if "22k" in (f.dataset or "").lower() else " (pre-trained)"
    return text


def index_markdown(entries: list[Entry], vers: str, verify: dict | None, links: Links = Links()) -> str:
    ordered = sorted(entries, key=lambda e: (e.family, e.analysis.totals["macs"], e.name))
    rows = []
    for e in ordered:
        t = e.analysis.totals
        rows.append([f"[{e.name}]({e.name}.md)", e.family, "x".join(map(str, e.analysis.input_shape)),
                     human(t["params"]), human(t["macs"]), human(t["flops"]), human(t["activation_bytes"], "B"),
                     human(t["peak_activation_bytes"], "B"), _paper_cell(first_figure(e.spec, "top1")),
                     _paper_cell(first_figure(e.spec, "top5")), verify_status(e) or "—", gpu_throughput(e.bench)])
    header = ["spec", "family", "input", "params", "MACs", "FLOPs", "activations", "inference peak",
              "top-1 % (paper)", "top-5 % (paper)", "verified", "GPU throughput"]
    table = md_table(header, rows, right=(3, 4, 5, 6, 7, 8, 9, 11))
    n_checks = len(verify["checks"]) if verify else 0
    lines = [MARK, "", "# archprof zoo", "",
             f"{len(entries)} {'specs' if all(e.spec is not None for e in entries) else 'models'}, analysed on the meta device at batch 1, fp32, at each spec's declared input size. "
             "Computed columns come from the analyser; the paper columns are each spec's first top-1/top-5 figure "
             "(the one `archprof zoo` shows), with its source in the spec's report; nothing here is typed by hand. "
             f"Units as in {links.units()}: MACs are multiply-accumulates, "
             "activations are all layer outputs written by one forward pass, inference peak is the most activation "
             "memory alive at once.", "",
             f"Versions: {vers}. Verification: "
             + (f"[verify.md](verify.md) ({n_checks} checks recorded in verify.json)." if verify
                else f"none recorded (verify.json absent: run `{links.refresh}`)."),
             "", table]
    points, skipped = index_points(entries)
    lines += ["## Accuracy vs MACs", "",
              "Published ImageNet top-1 against measured MACs (log scale), one marker per family, as in Figure 2 "
              "of the TNT paper.", "", "![paper top-1 vs MACs](img/zoo-accuracy-vs-macs.png)", ""]
    if skipped:
        lines += ["Not plotted (no ImageNet top-1 figure): " + ", ".join(skipped) + ".", ""]
    lines += ["## Parameters vs MACs", "", "![params vs MACs](img/zoo-params-vs-macs.png)", ""]
    where = "from the repository root" if links.refresh == REFRESH else "from the folder it was first run in"
    command = links.refresh + ("" if links.refresh == REFRESH or " --all " in links.refresh else " --index")
    lines += ["## Regenerate", "", f"`{command}` ({where}) first reruns `archprof verify` for specs that are "
              "new or changed since verify.json was recorded (the equivalence proof takes seconds to a minute per spec), "
              "then rewrites every file here; the same command with `--check` instead of `--verify-stale` "
              "tells whether this folder is up to date.", ""]
    return "\n".join(lines)


def index_points(entries: list[Entry]):
    from archprof.report.plots import Point

    points, skipped = [], []
    for e in sorted(entries, key=lambda e: e.name):
        f = first_figure(e.spec, "top1")
        t = e.analysis.totals
        if f is None or not is_imagenet(f):
            skipped.append(e.name)
            points.append(Point(e.name, e.family, t["macs"], t["params"], None))
        else:
            points.append(Point(e.name, e.family, t["macs"], t["params"], f.value, is_pretrained(f)))
    return points, skipped


def index_plots(entries: list[Entry], out: Path) -> None:
    from archprof.report import plots as rp

    points, _ = index_points(entries)
    styles = rp.family_styles([p.family for p in points])  # the same colour for a family in both plots
    rp.accuracy_vs_macs([p for p in points if p.top1 is not None], out / "img" / "zoo-accuracy-vs-macs.png", styles)
    rp.params_vs_macs(points, out / "img" / "zoo-params-vs-macs.png", styles)


def verify_markdown(verify: dict, zoo: set[str]) -> str:
    checks = sorted(verify["checks"], key=lambda r: r["spec"])  # stable: each spec keeps its row order
    counts = {s: sum(1 for r in checks if r["status"] == s) for s in ("PASS", "FAIL", "INFO")}
    made = verify.get("generated_with")
    specs = sorted({r["spec"] for r in checks})
    lines = [MARK, "", "# Verification", "",
             f"{len(specs)} specs, {len(checks)} checks: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['INFO']} INFO. "
             "Rendered from [verify.json](verify.json), recorded by `archprof report --verify` (which runs "
             "`archprof verify` with the equivalence proof: the reference implementation's random weights loaded "
             "into the compiled spec must give the same logits and parameter count).", ""]
    if isinstance(made, dict) and made:
        lines += ["Recorded with: " + " · ".join(f"{k} {made[k]}" for k in sorted(made)) + ".", ""]
    keys = ("check", "status", "ours", "paper", "tolerance", "source", "note")
    rows = [[f"[{r['spec']}]({r['spec']}.md)" if r["spec"] in zoo else r["spec"]] + [r.get(k, "") for k in keys] for r in checks]
    lines.append(md_table(["spec", *keys], rows))
    return "\n".join(lines)
