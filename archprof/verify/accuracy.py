"""Published accuracy, measured where the user has the data: ``verify --weights-dir DIR --data imagenet:PATH``.

Each top-1/top-5 figure names the reference weights that measured it (``weights:``, or its
source). When that file is in DIR, the spec is evaluated with it, preprocessed as the library
evaluates those weights and cropped as the figure says, and the INFO row becomes PASS or FAIL
against the figure and its tolerance. A figure declared without a tolerance must be met to its
printed precision: 69.758 means 69.7575 to 69.7585, which 50,000 images resolve (one image is
0.002 points). Under ``--limit`` the images are a fixed random subset and the row is an
ESTIMATE with its 95% Wilson interval, never a PASS.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from archprof.spec import Figure, Spec
from archprof.verify.checks import ESTIMATE, FAIL, INFO, PASS, Check


@dataclass(frozen=True)
class AccuracyRun:
    """Where the weights and the images are, and how to evaluate."""

    weights_dir: Path
    data: str
    limit: int | None = None
    device: str = "auto"
    batch_size: int = 128
    workers: int | None = None

    def measure(self, spec: Spec, rows: list[Check]) -> list[Check]:
        return measured_rows(spec, rows, self)


def printed_precision(value: float) -> float:
    """Half a unit of a number's last printed digit: 69.758 -> 0.0005, 81.3 -> 0.05."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** min(0, int(exponent))


def wilson(correct: int, images: int, confidence: float = 0.95) -> tuple[float, float]:
    from scipy.stats import binomtest

    interval = binomtest(correct, images).proportion_ci(confidence_level=confidence, method="wilson")
    return interval.low, interval.high


def _measured(figure: Figure, row: Check, evaluation, file: Path, run: AccuracyRun) -> Check:
    top1 = figure.metric == "top1"
    correct = evaluation.correct if top1 else evaluation.correct5
    if correct is None:
        return replace(row, note=f"{run.data} has five classes or fewer: every image is in its top five")
    measured = 100 * correct / evaluation.images
    setting = f"{evaluation.preprocess}; {file.name}"
    if evaluation.left_out:
        setting += f"; {len(evaluation.left_out)} unreadable images left out"
    if evaluation.subset:
        low, high = (100 * v for v in wilson(correct, evaluation.images))
        inside = "inside" if low <= figure.value <= high else "outside"
        return replace(row, status=ESTIMATE, ours=f"{measured:.2f}% (95% CI {low:.2f}–{high:.2f}%)", tolerance="",
                       note=f"--limit: {evaluation.images:,} of {evaluation.of:,} images of {run.data}, an estimate; the figure is "
                            f"{inside} its 95% interval; {setting}")
    if figure.tol:
        tolerance, text = figure.tolerance(), row.tolerance
    else:
        tolerance = printed_precision(figure.value)
        text = f"±{tolerance:g} pt (its printed precision)"
    ok = abs(measured - figure.value) <= tolerance + 1e-9
    return replace(row, status=PASS if ok else FAIL, ours=f"{measured:.3f}% ({correct:,}/{evaluation.images:,})",
                   tolerance=text, note=f"measured on {run.data}: {setting}")


def measured_rows(spec: Spec, rows: list[Check], run: AccuracyRun) -> list[Check]:
    """``rows`` (one per figure of ``spec``, in order) with each accuracy figure whose weights are in
    ``run.weights_dir`` measured; one evaluation per weights and protocol serves its top-1 and top-5."""
    from archprof.train.evaluate import evaluate
    from archprof.train.reference import figure_weights

    done: dict[tuple, object] = {}
    out = []
    for figure, row in zip(spec.figures, rows):
        weights = figure_weights(spec, figure) if figure.metric in ("top1", "top5") and figure.check else None
        if weights is None:
            out.append(row)
            continue
        file = weights.find(run.weights_dir)
        if file is None:
            looked = ", ".join(weights.file_names()[:2])
            out.append(replace(row, status=INFO, note=f"no file of {weights} in {run.weights_dir} (looked for {looked}, …)"))
            continue
        key = (weights, figure.crop, figure.resolution)
        if key not in done:
            done[key] = evaluate(spec, file, run.data, preprocess="reference", reference_weights=weights,
                                 ten_crop=figure.crop == "ten-crop", resolution=figure.resolution, device=run.device,
                                 batch_size=run.batch_size, workers=run.workers, limit=run.limit,
                                 announce=f"measuring {spec.name} with {weights} ({file})")
        out.append(_measured(figure, row, done[key], file, run))
    return out
