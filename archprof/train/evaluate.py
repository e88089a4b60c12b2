"""``archprof eval``: accuracy, top-5, macro precision/recall/F1, per-class table, confusion matrix.

Metrics follow the usual definitions: per class, precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 their harmonic mean; "macro" averages with equal weight over the
classes the evaluated images belong to. scikit-learn computes them. Weights are an archprof
checkpoint or the reference's own file (see :mod:`archprof.train.reference`); the images are
preprocessed as the reference's library evaluates those weights, or with the spec's own recipe.
Ten-crop evaluation (AlexNet paper) averages the softmax over the four corners, the centre and
their mirrors; a t-SNE map of penultimate features is optional; ``predictions`` writes each
image's top five classes and probabilities to a CSV file.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from archprof.errors import ArchprofError
from archprof.spec import Spec
from archprof.train import checkpoint
from archprof.train.data import BUNDLED, open_data
from archprof.train.imagenet import UnreadableImage

PREPROCESS = ("reference", "spec")
SUBSET_SEED = 0


@dataclass
class Evaluation:
    spec: str
    data: str
    weights: str
    images: int
    correct: int
    correct5: int | None   # None with five classes or fewer, where every image is in its top five
    precision: float
    recall: float
    f1: float
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    ten_crop: bool = False
    input_shape: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)   # plots and predictions written
    preprocess: str = ""
    of: int = 0                                      # images in the data set (more than ``images`` under a limit)
    left_out: list[str] = field(default_factory=list)   # unreadable images skipped
    seconds: float = 0.0

    @property
    def top1(self) -> float:
        return self.correct / self.images

    @property
    def top5(self) -> float | None:
        return None if self.correct5 is None else self.correct5 / self.images

    @property
    def subset(self) -> bool:
        return self.images + len(self.left_out) < self.of

    def summary(self) -> dict[str, Any]:
        keys = ("spec", "data", "weights", "preprocess", "images", "input_shape", "top1", "top5", "precision", "recall", "f1",
                "ten_crop")
        out = {k: getattr(self, k) for k in keys if not (k == "top5" and self.top5 is None)}
        if self.subset:
            out["subset"] = f"{self.images:,} of {self.of:,} images, a fixed random choice (seed {SUBSET_SEED})"
        if self.left_out:
            out["left_out"] = len(self.left_out)
        out["images_per_s"] = round(self.images / self.seconds, 1) if self.seconds else None
        return out


def _ten_crop(model: nn.Module, x: torch.Tensor, pad: int) -> torch.Tensor:
    """Mean softmax over ten crops of an image padded by ``pad`` (corners, centre, and mirrors)."""
    from torchvision.transforms.v2 import functional as TF

    size = x.shape[-2:]
    padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    crops = TF.ten_crop(padded, list(size))
    return torch.stack([model(c).softmax(1) for c in crops]).mean(0)


class _Indexed(Dataset):
    """(image, label, index, why it could not be read or None), so that a batch can leave out an
    unreadable image and still say which files its rows are."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        try:
            x, y = self.base[i]
        except UnreadableImage as exc:
            return None, -1, i, exc.why
        return x, y, i, None


def _collate(batch):
    from torch.utils.data import default_collate

    good = [b[:3] for b in batch if b[3] is None]
    bad = [(b[2], b[3]) for b in batch if b[3] is not None]
    return (*(default_collate(good) if good else (None, None, None)), bad)


def predict(model: nn.Module, loader: DataLoader, *, ten_crop_pad: int = 0, want_features: bool = False, device=None,
            on_bad=None, on_batch=None):
    """Class probabilities (softmax, or its mean over ten crops) of every readable image, their
    labels and dataset indices, and the input of the last layer when asked."""
    device = device or torch.device("cpu")
    last = [m for m in model.modules() if not any(True for _ in m.children())][-1]
    captured: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda m, i, o: captured.append(i[0].flatten(1).detach().cpu())) if want_features else None
    outputs, labels, indices = [], [], []
    with torch.no_grad():
        for x, y, index, bad in loader:
            for i, why in bad:
                on_bad(i, why)
            if x is None:
                continue
            x = x.to(device, non_blocking=True)
            first = len(captured)
            if x.dim() == 5:   # ten crops per image from a reference's preprocessing
                b, n = x.shape[:2]
                out = model(x.flatten(0, 1)).softmax(1).view(b, n, -1).mean(1)
            else:
                b, n = x.shape[0], 10 if ten_crop_pad else 1
                out = _ten_crop(model, x, ten_crop_pad) if ten_crop_pad else model(x).softmax(1)
            if want_features and n > 1:   # one feature row per image: the mean over its crops
                rows = torch.cat(captured[first:])
                rows = rows.view(b, n, -1) if x.dim() == 5 else rows.view(n, b, -1).transpose(0, 1)
                captured[first:] = [rows.mean(1)]
            outputs.append(out.float().cpu())
            labels.append(y)
            indices.append(index)
            if on_batch is not None:
                on_batch(len(y) + len(bad))
    if hook is not None:
        hook.remove()
    if not outputs:
        raise ArchprofError("no image could be evaluated")
    feats = torch.cat(captured) if want_features else None
    return torch.cat(outputs), torch.cat(labels), torch.cat(indices), feats


def _preprocessing(spec: Spec, weights: Path, meta: dict, data_name: str, preprocess: str | None, reference_weights,
                   ten_crop: bool, resolution: int | None, input_shape):
    """The preprocessing to evaluate with (the reference's for its own files when ``preprocess`` is
    None, the spec's for archprof checkpoints and bundled tensors), and the input size it sets."""
    mode = preprocess or ("reference" if spec.reference is not None and not meta and data_name not in BUNDLED else "spec")
    if mode == "spec":
        from archprof.train.preprocess import spec_preprocessing

        shape = input_shape or (tuple(meta["input_shape"]) if meta.get("input_shape") else None)
        return spec_preprocessing(shape or tuple(spec.input)), shape
    if spec.reference is None:
        raise ArchprofError(f"{spec.name} declares no reference implementation, so it has no reference preprocessing; use --preprocess spec")
    from archprof.train.reference import weights_for_file

    chosen = reference_weights or weights_for_file(spec, Path(weights))
    size = resolution or (input_shape[-1] if input_shape else None)
    prep = chosen.preprocessing("ten-crop" if ten_crop else "center", size)
    return prep, prep.input_shape


def _load(model: nn.Module, spec: Spec, tensors: dict, weights: Path) -> None:
    from archprof.train.reference import known_file, published, spec_state

    ours = set(model.state_dict())
    state = spec_state(spec, checkpoint.model_state(tensors), ours)
    try:
        checkpoint.load_weights(model, state, str(weights))
    except ArchprofError as exc:
        other = known_file(Path(weights))   # named as another model's file of a library: another architecture's
        if other and spec.reference is not None and other.partition(" ")[2] in published(spec.reference):
            other = None
        shared = len(set(state) & ours)
        if other:
            hint = f"the file is named as {other}: weights of another architecture"
        elif shared < len(ours) / 2:
            hint = f"only {shared} of the spec's {len(ours)} tensors are in the file: weights of another architecture?"
        else:
            hint = ""
        raise ArchprofError(f"{exc} ({hint})" if hint else str(exc)) from None


def _subset(dataset: Dataset, limit: int | None) -> Dataset:
    if not limit or limit >= len(dataset):
        return dataset
    chosen = np.sort(np.random.default_rng(SUBSET_SEED).choice(len(dataset), size=limit, replace=False))
    return Subset(dataset, chosen.tolist())


def _workers(dataset: Dataset, batch_size: int, workers: int | None) -> int:
    if workers is not None:
        return workers
    files, inner = False, dataset
    while inner is not None and not files:   # image files under any Subset or transform wrapper
        files = hasattr(inner, "samples")
        inner = getattr(inner, "dataset", None) or getattr(inner, "base", None)
    return min(8, max(0, (os.cpu_count() or 1) - 1)) if files and len(dataset) > batch_size else 0


def write_predictions(path: Path, paths: list[str], labels: np.ndarray, probabilities: torch.Tensor) -> None:
    """One row per image: its path, true class index and the top five classes with their probabilities."""
    import csv
    import io

    k = min(5, probabilities.shape[1])
    top = probabilities.topk(k, 1)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["path", "label", *[f"{c}{j}" for j in range(1, k + 1) for c in ("top", "prob")]])
    for row, (p, y) in enumerate(zip(paths, labels.tolist())):
        pairs = [v for j in range(k) for v in (int(top.indices[row, j]), f"{float(top.values[row, j]):.6f}")]
        writer.writerow([p, y, *pairs])
    from archprof.files import write_text_atomic

    write_text_atomic(Path(path), text.getvalue())


def evaluate(spec: Spec, weights: Path, data_name: str, *, ten_crop: bool = False, out: Path | None = None, tsne: bool = False,
             input_shape: tuple[int, ...] | None = None, bad_images: str = "refuse", batch_size: int = 128,
             preprocess: str | None = None, reference_weights=None, resolution: int | None = None, device: str = "cpu",
             workers: int | None = None, limit: int | None = None, predictions: Path | None = None,
             progress: bool | None = None, announce: str | None = None) -> Evaluation:
    """Evaluate ``weights`` on the held-out split of ``data_name``. The weights file and the data are
    checked before any model is built. With the spec's preprocessing the input size is
    ``input_shape``, else the one the checkpoint was trained at, else the spec's; with the
    reference's it is the size its library evaluates those weights at (or ``resolution``).
    ``announce`` is said on stderr once the weights and data have been accepted."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from archprof.analysis import analyze
    from archprof.bench.fit import check_fits
    from archprof.spec.plan import resolve
    from archprof.train.data import paths_of
    from archprof.train.loop import _device, model_for
    from archprof.train.progress import EvalBar, log

    if preprocess is not None and preprocess not in PREPROCESS:
        raise ArchprofError(f"--preprocess: expected one of {', '.join(PREPROCESS)}, got '{preprocess}'")
    if predictions is not None:
        from archprof.files import check_writable

        check_writable(predictions)
        if Path(predictions).resolve() == Path(weights).resolve():
            raise ArchprofError(f"--predictions {predictions}: is the weights file; weight files are never overwritten")
    tensors, meta = checkpoint.load(weights)
    prep, shape = _preprocessing(spec, weights, meta, data_name, preprocess, reference_weights, ten_crop, resolution, input_shape)
    if shape is not None:
        spec = spec.model_copy(update={"input": list(shape)})
    plan = resolve(spec)
    data = open_data(data_name, plan.input_shape, bad_images, transform=prep.transform if prep.reference else None, evaluation=True)
    where = _device(device)
    sized = spec.model_copy(update={"params": {**spec.params, "num_classes": data.num_classes}}) if "num_classes" in spec.params else spec
    check_fits(analyze(sized).totals, "infer", batch_size * (10 if ten_crop and prep.reference else 1), where, f"evaluating {spec.name}")
    spec, model = model_for(spec, data)
    _load(model, spec, tensors, weights)
    model.eval().to(where)
    dataset = _subset(data.test, limit)
    loader = DataLoader(_Indexed(dataset), batch_size=batch_size, collate_fn=_collate, num_workers=_workers(dataset, batch_size, workers),
                        pin_memory=where.type == "cuda")
    paths = paths_of(dataset, data.name)
    left_out: list[str] = []

    def bad(i: int, why: str) -> None:
        if bad_images == "refuse":
            raise ArchprofError(f"{data_name}: {paths[i]} cannot be read ({why}); leave unreadable images out with --bad-images skip")
        left_out.append(f"{paths[i]} ({why})")

    if announce:
        log(f"archprof: {announce} on {len(dataset):,} images of {data_name}" + (f" (--limit, of {len(data.test):,})" if limit else ""))
    bar = EvalBar(f"{spec.name} on {data.name}", len(dataset), show=progress)
    pad = max(1, plan.input_shape[-1] // 8) if ten_crop and not prep.reference else 0   # the spec's ten crops: of the padded input
    with bar:
        probabilities, labels, indices, feats = predict(model, loader, ten_crop_pad=pad, want_features=tsne, device=where,
                                                        on_bad=bad, on_batch=bar.advance)
    if left_out:
        log(f"archprof: {data_name}: left out {len(left_out)} of {len(dataset)} images that cannot be read: {'; '.join(left_out[:3])}")
    predicted = probabilities.argmax(1)
    hits5 = (probabilities.topk(5, 1).indices == labels[:, None]).any(1) if probabilities.shape[1] > 5 else None
    y, p = labels.numpy(), predicted.numpy()
    present = sorted(set(y.tolist()))
    classes = present if len(present) < data.num_classes else list(range(data.num_classes))
    with warnings.catch_warnings():   # scikit-learn warns of a single class, which a small subset may have
        warnings.simplefilter("ignore", UserWarning)
        precision, recall, f1, support = precision_recall_fscore_support(y, p, labels=present, zero_division=0)
        matrix = confusion_matrix(y, p, labels=classes)
    per_class = [{"class": data.classes[c], "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                  "support": int(support[i])} for i, c in enumerate(present)]
    result = Evaluation(spec.name, data.name, str(weights), len(y), int((p == y).sum()), int(hits5.sum()) if hits5 is not None else None,
                        float(precision.mean()), float(recall.mean()), float(f1.mean()), per_class, matrix.tolist(),
                        [data.classes[c] for c in classes], ten_crop, list(plan.input_shape), preprocess=prep.describe(),
                        of=len(data.test), left_out=left_out, seconds=bar.seconds)
    if predictions is not None:
        write_predictions(predictions, [paths[i] for i in indices.tolist()], y, probabilities)
        result.files.append(str(predictions))
    if out is not None:
        from archprof.train import plots

        Path(out).mkdir(parents=True, exist_ok=True)
        plots.confusion_matrix(matrix, result.classes, Path(out) / "confusion.png", f"{spec.name} on {data.name}")
        result.files.append(str(Path(out) / "confusion.png"))
        if tsne:
            plots.tsne(feats.numpy(), y, data.classes, Path(out) / "tsne.png", f"{spec.name}: penultimate features (t-SNE)")
            result.files.append(str(Path(out) / "tsne.png"))
    return result
