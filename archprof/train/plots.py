"""The plots of training and evaluation: learning curves, confusion matrix, t-SNE map."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from archprof.png import figure, save_png


def learning_curves(history: Sequence, path: Path) -> None:
    fig, _ = figure(9, 3.5)
    fig.clf()
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [h.epoch for h in history]
    loss_ax.plot(epochs, [h.train_loss for h in history], marker="o", label="train")
    loss_ax.plot(epochs, [h.val_loss for h in history], marker="o", label="held-out")
    loss_ax.set_xlabel("epoch"), loss_ax.set_ylabel("loss"), loss_ax.legend()
    acc_ax.plot(epochs, [100 * h.train_acc for h in history], marker="o", label="train")
    acc_ax.plot(epochs, [100 * h.val_acc for h in history], marker="o", label="held-out")
    acc_ax.set_xlabel("epoch"), acc_ax.set_ylabel("accuracy (%)"), acc_ax.legend()
    save_png(fig, path)


def confusion_matrix(matrix, classes: list[str], path: Path, title: str) -> None:
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = figure(size, size)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90 if len(classes) > 6 else 0)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title)
    top = matrix.max() or 1
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", color="white" if matrix[i, j] > top / 2 else "black", fontsize=8)
    save_png(fig, path)


def tsne(features, labels, classes: list[str], path: Path, title: str) -> None:
    """2-D t-SNE map of features (scikit-learn), one colour per class."""
    from sklearn.manifold import TSNE

    points = TSNE(n_components=2, init="pca", random_state=0, perplexity=min(30, max(5, len(features) // 4))).fit_transform(features)
    fig, ax = figure(6, 6)
    for index, name in enumerate(classes):
        chosen = labels == index
        ax.scatter(points[chosen, 0], points[chosen, 1], s=6, label=name)
    ax.set_title(title), ax.set_xticks([]), ax.set_yticks([])
    ax.legend(markerscale=3, fontsize=7, loc="best")
    save_png(fig, path)
