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
    """One spec (or a library or Python-file source), analysed, with its recorded results."""

    spec: Spec | None
    analysis: Any  # archprof.analysis.Analysis
    checks: list[dict] = field(default_factory=list)  # its rows of verify.json
    bench: dict | None = None
    train: dict | None = None

    @property
    def name(self) -> str:
        """The report's file name: the spec's name, or the source made safe (``torchvision-resnet18``)."""
        return self.spec.name if self.spec is not None else source_name(self.analysis.source)

    @property
    def family(self) -> str:
        if self.spec is not None:
            return self.spec.family or self.spec.name
        label = str(self.analysis.source)
        return label.partition(":")[0] if label.split(":")[0] in ("torchvision", "timm") else "python"


def source_name(label: str) -> str:
    """A file name for a non-spec source: ``torchvision:resnet18`` -> ``torchvision-resnet18``,
    ``models/net.py:Net`` -> ``net-Net``."""
    prefix, _, rest = str(label).rpartition(":")
    if prefix.endswith(".py"):
        prefix = Path(prefix).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{prefix}-{rest}" if prefix else rest).strip("-.") or "model"


@dataclass(frozen=True)
class Links:
    """What reports may link to and tell the user to run: only files that exist beside them, and
    the command that made them (so a folder outside the repository is told its own command)."""

    readme: bool = False   # the folder sits in archprof's repository, under its README
    verify: bool = False   # verify.json is read here and verify.md written beside it
    refresh: str = "archprof report --all --verify-stale"

    def units(self) -> str:
        return ("the README's [Units and conventions](../README.md#units-and-conventions)" if self.readme
                else "the Units and conventions of archprof's README")

    def results(self) -> str:
        return "the README's [Reports](../README.md#reports) section" if self.readme else "the Reports section of archprof's README"

    @staticmethod
    def beside(folder: Path, verify: bool, refresh: str) -> "Links":
        readme = Path(folder).resolve().parent / "README.md"
        try:
            ours = "## Units and conventions" in readme.read_text(encoding="utf-8") and (readme.parent / "specs").is_dir()
        except (OSError, UnicodeDecodeError):
            ours = False
        return Links(ours, verify, refresh)


def spec_path_text(spec: Spec) -> str:
    """The spec file relative to the repository (``specs/...``), never an absolute path."""
    path = Path(spec.file)
    for base, prefix in ((bundled_dir(), "specs/"), (Path.cwd(), "")):
        try:
            return prefix + path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return path.name


def first_figure(spec: Spec | None, metric: str) -> Figure | None:
    """The spec's headline figure of a metric: the first one not marked ``check: false``
    (the same one ``archprof zoo`` shows)."""
    return next((f for f in spec.figures if f.metric == metric and f.check), None) if spec is not None else None


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
    heavy = sum(1 for r in analysis.rows(1) if r["macs"] >= STAGE_SHARE * total)
    return 1 if heavy >= STAGE_MIN else 2


def stages(analysis) -> tuple[int, list[dict]]:
    """The depth the stages are read at and the stages (:func:`archprof.analysis.rows.stages`)."""
    from archprof.analysis.rows import stages as split

    depth = stage_depth(analysis)
    return depth, split(analysis.records, depth, analysis.module_types)


def verify_status(entry: Entry) -> str:
    """PASS / FAIL (checks) / stale / '' from the spec's rows of verify.json."""
    rows = entry.checks
    if not rows or entry.spec is None:
        return ""
    hashes = {r.get("verified_hash") for r in rows if r.get("verified_hash")}
    if hashes and hashes != {verified_hash(entry.spec)}:
        return "stale (spec changed)"
    failed = [r["check"] for r in rows if r["status"] == "FAIL"]
    if failed:
        return "FAIL: " + ", ".join(failed)
    proof = next((r for r in rows if r["check"] == "equivalence"), None)
    return "PASS" + (" (equivalence)" if proof else " (figures)")
