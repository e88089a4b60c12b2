"""One spec as the reports see it: its analysis, its recorded checks and results, and how it splits into stages."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archprof.report.inputs import verified_hash
from archprof.spec import Figure, Spec, bundled_dir

STAGE_SHARE, STAGE_MIN = 0.05, 4  # depth 1 when at least 4 of its rows carry >= 5% of the MACs each


@dataclass
class Entry:
    """One spec, analysed, with its recorded results."""

    spec: Spec
    analysis: Any  # archprof.analysis.Analysis
    checks: list[dict] = field(default_factory=list)  # its rows of verify.json
    bench: dict | None = None
    train: dict | None = None

    @property
    def name(self) -> str:
        return self.spec.name


def spec_path_text(spec: Spec) -> str:
    """The spec file relative to the repository (``specs/...``), never an absolute path."""
    path = Path(spec.file)
    for base, prefix in ((bundled_dir(), "specs/"), (Path.cwd(), "")):
        try:
            return prefix + path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return path.name


def first_figure(spec: Spec, metric: str) -> Figure | None:
    """The spec's headline figure of a metric: the first one not marked ``check: false``
    (the same one ``archprof zoo`` shows)."""
    return next((f for f in spec.figures if f.metric == metric and f.check), None)


def is_imagenet(f: Figure) -> bool:
    return f.dataset is None or bool(re.search(r"imagenet|ilsvrc", f.dataset, re.I))


def is_pretrained(f: Figure) -> bool:
    return bool(f.dataset and re.search(r"pre-?trained", f.dataset, re.I))


def stage_depth(analysis) -> int:
    """Depth 1 when it splits the model into stages (at least 4 rows carrying >= 5% of the MACs
    each, as ResNet's layer1..layer4); otherwise depth 2 (ConvNeXt's stages.N, ViT's blocks.N,
    VGG's features.N, whose depth-1 rows are one big container)."""
    total = analysis.totals["macs"]
    if not total:
        return 1
    heavy = int((analysis.rollup(1)["macs"] >= STAGE_SHARE * total).sum())
    return 1 if heavy >= STAGE_MIN else 2


def stage_starts(names: list[str], depth: int) -> list[int]:
    """Indexes of the first layer of each rolled-up row (the same grouping as ``rollup``)."""
    starts, last = [], None
    for i, name in enumerate(names):
        key = ".".join(str(name).split(".")[:depth])
        if key != last:
            starts.append(i)
            last = key
    return starts


def verify_status(entry: Entry) -> str:
    """PASS / FAIL (checks) / stale / '' from the spec's rows of verify.json."""
    rows = entry.checks
    if not rows:
        return ""
    hashes = {r.get("verified_hash") for r in rows if r.get("verified_hash")}
    if hashes and hashes != {verified_hash(entry.spec)}:
        return "stale (spec changed)"
    failed = [r["check"] for r in rows if r["status"] == "FAIL"]
    if failed:
        return "FAIL: " + ", ".join(failed)
    proof = next((r for r in rows if r["check"] == "equivalence"), None)
    return "PASS" + (" (equivalence)" if proof else " (figures)")
