"""``archprof eval``: accuracy, top-5, macro precision/recall/F1, per-class table, confusion matrix.

Metrics follow the usual definitions: per class, precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 their harmonic mean; "macro" averages over classes with equal weight.
scikit-learn computes them. Ten-crop evaluation (AlexNet paper) averages the softmax over the
four corners, the centre and their mirrors; a t-SNE map of penultimate features is optional.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from archprof.spec import Spec
from archprof.train import checkpoint
from archprof.train.data import open_data


@dataclass
class Evaluation:
    spec: str
    data: str
    weights: str
    images: int
    top1: float
    top5: float | None   # None with five classes or fewer, where every image is in its top five
    precision: float
    recall: float
    f1: float
    per_class: list[dict[str, Any]] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    ten_crop: bool = False
    input_shape: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)   # plots written

    def summary(self) -> dict[str, Any]:
        keys = ("spec", "data", "weights", "images", "input_shape", "top1", "top5", "precision", "recall", "f1", "ten_crop")
        return {k: getattr(self, k) for k in keys if not (k == "top5" and self.top5 is None)}


def _ten_crop(model: nn.Module, x: torch.Tensor, pad: int) -> torch.Tensor:
    """Mean softmax over ten crops of an image padded by ``pad`` (corners, centre, and mirrors)."""
    from torchvision.transforms.v2 import functional as TF

    size = x.shape[-2:]
    padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    crops = TF.ten_crop(padded, list(size))
    return torch.stack([model(c).softmax(1) for c in crops]).mean(0)


def features_and_logits(model: nn.Module, loader: DataLoader, ten_crop: bool, want_features: bool):
    """Logits (or ten-crop probabilities) for every image, and the input of the last layer."""
    last = [m for m in model.modules() if not any(True for _ in m.children())][-1]
    captured: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda m, i, o: captured.append(i[0].flatten(1).detach())) if want_features else None
    outputs, labels = [], []
    with torch.no_grad():
        for x, y in loader:
            out = _ten_crop(model, x, max(1, x.shape[-1] // 8)) if ten_crop else model(x)
            outputs.append(out.float())
            labels.append(y)
    if hook is not None:
        hook.remove()
    feats = torch.cat(captured)[: sum(len(y) for y in labels)] if want_features else None
    return torch.cat(outputs), torch.cat(labels), feats


def evaluate(spec: Spec, weights: Path, data_name: str, *, ten_crop: bool = False, out: Path | None = None, tsne: bool = False,
             input_shape: tuple[int, ...] | None = None, bad_images: str = "refuse", batch_size: int = 128) -> Evaluation:
    """Evaluate ``weights`` on the held-out split of ``data_name``. The weights file and the data are
    checked before any model is built; the input size is ``input_shape``, else the one the
    checkpoint was trained at, else the spec's."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from archprof.analysis import analyze
    from archprof.bench.fit import check_fits
    from archprof.spec.plan import resolve
    from archprof.train.loop import model_for

    tensors, meta = checkpoint.load(weights)
    shape = input_shape or (tuple(meta["input_shape"]) if meta.get("input_shape") else None)
    if shape is not None:
        spec = spec.model_copy(update={"input": list(shape)})
    plan = resolve(spec)
    data = open_data(data_name, plan.input_shape, bad_images)
    sized = spec.model_copy(update={"params": {**spec.params, "num_classes": data.num_classes}}) if "num_classes" in spec.params else spec
    check_fits(analyze(sized).totals, "infer", batch_size, torch.device("cpu"), f"evaluating {spec.name}")
    spec, model = model_for(spec, data)
    checkpoint.load_weights(model, checkpoint.model_state(tensors), str(weights))
    model.eval()
    loader = DataLoader(data.test, batch_size=batch_size)
    scores, labels, feats = features_and_logits(model, loader, ten_crop, tsne)
    predicted = scores.argmax(1)
    top5 = (scores.topk(5, 1).indices == labels[:, None]).any(1).float().mean().item() if scores.shape[1] > 5 else None
    y, p = labels.numpy(), predicted.numpy()
    classes = list(range(data.num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(y, p, labels=classes, zero_division=0)
    matrix = confusion_matrix(y, p, labels=classes)
    per_class = [{"class": data.classes[i], "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
                 for i in classes]
    result = Evaluation(spec.name, data.name, str(weights), len(y), float((p == y).mean()), top5,
                        float(precision.mean()), float(recall.mean()), float(f1.mean()), per_class, matrix.tolist(), data.classes, ten_crop,
                        list(plan.input_shape))
    if out is not None:
        from archprof.train import plots

        Path(out).mkdir(parents=True, exist_ok=True)
        plots.confusion_matrix(matrix, data.classes, Path(out) / "confusion.png", f"{spec.name} on {data.name}")
        result.files.append(str(Path(out) / "confusion.png"))
        if tsne:
            plots.tsne(feats.numpy(), y, data.classes, Path(out) / "tsne.png", f"{spec.name}: penultimate features (t-SNE)")
            result.files.append(str(Path(out) / "tsne.png"))
    return result
