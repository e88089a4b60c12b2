"""``imagenet:PATH``: ImageNet-1k's validation images on the user's disk, labelled as the weights expect.

Class index ``i`` is the ``i``-th of the 1,000 WordNet ids in sorted order (n01440764 = 0, tench),
the order every torchvision and timm ImageNet classifier is trained with; the list and the class
names come from timm's ``ImageNetInfo``. Two layouts are read:

* a folder per WordNet id (``PATH/n01440764/*.JPEG``, or the same under ``PATH/val/``), as
  torchvision's ``ImageNet`` and most preparation scripts leave it; any subset of the classes;
* the images in one folder with a labels file beside them: ``labels.txt``/``val.txt`` lines
  ``FILE LABEL`` (LABEL a class index 0-999 or a WordNet id; Caffe's ``val.txt``), or Kaggle's
  ``LOC_val_solution.csv`` (``ImageId,PredictionString``, the first word the WordNet id), which
  is also found where Kaggle puts it, up to four folders above the images.

Anything else is refused in one line that says which layout was expected. Images are decoded
when they are evaluated; one that cannot be (truncated, not an image, a decompression bomb)
refuses the run, or is left out with ``--bad-images skip``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS as IMAGES

from archprof.errors import ArchprofError

WNID = re.compile(r"n\d{8}")
LABEL_FILES = ("labels.txt", "val.txt", "LOC_val_solution.csv", "labels.csv")
KAGGLE = "LOC_val_solution.csv"
MAX_LABELS_BYTES = 64 << 20
LAYOUTS = ("a folder per WordNet id (n01440764/, n01443537/, …) or the images with a labels file "
           f"({', '.join(LABEL_FILES)}: lines 'FILE LABEL', LABEL a class index 0-999 or a WordNet id)")


@lru_cache(maxsize=1)
def synsets() -> tuple[list[str], list[str]]:
    """The 1,000 WordNet ids in class order, and a short name for each ("tench")."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return list(info.label_names()), [d.split(",")[0] for d in info.label_descriptions()]


class UnreadableImage(Exception):
    def __init__(self, path: str, why: str):
        super().__init__(f"{path} ({why})")
        self.path, self.why = path, why


def decode(path: str, draft: tuple[int, int] | None = None):
    """The image as RGB, or UnreadableImage saying why not (a decompression bomb included).
    ``draft`` decodes a JPEG at a reduced size, which still reads every byte of its stream."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if draft:
                    image.draft("RGB", draft)
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(path, "decompression bomb") from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure makes the image unusable
        text = str(exc).strip()
        raise UnreadableImage(path, text.splitlines()[0][:80] if text else type(exc).__name__) from None


class ImageFiles(Dataset):
    """(path, class index) pairs, decoded and transformed on access."""

    def __init__(self, samples: list[tuple[str, int]], transform: Callable):
        self.samples, self.transform = samples, transform
        self.targets = [label for _, label in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        return self.transform(decode(path)), label


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGES and p.is_file() and not p.name.startswith("."))


def _class_folders(root: Path, where: str) -> list[tuple[str, int]] | None:
    """Samples of a folder-per-WordNet-id layout, None when ``root`` holds no class folders."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        return None
    index = {w: i for i, w in enumerate(synsets()[0])}
    strangers = [p.name for p in folders if p.name not in index]
    if strangers:
        shown = ", ".join(f"'{s}'" for s in strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
        raise ArchprofError(f"{where}: folder {shown} is not one of ImageNet-1k's WordNet ids; expected {LAYOUTS}")
    samples = [(str(image), index[folder.name]) for folder in folders for image in _images(folder)]
    if not samples:
        raise ArchprofError(f"{where}: the class folders hold no images ({', '.join(IMAGES)})")
    return samples


def _label(text: str, index: dict[str, int]) -> int | None:
    if text.isdigit():
        value = int(text)
        return value if value < len(index) else None
    return index.get(text)


def _labels_file(root: Path, labels: Path, where: str) -> list[tuple[str, int]]:
    """Samples of flat images named by a labels file, every line and every image accounted for."""
    index = {w: i for i, w in enumerate(synsets()[0])}
    images = {p.name: p for p in _images(root) if p.parent == root}
    by_stem = {p.stem: p for p in images.values()}
    if labels.stat().st_size > MAX_LABELS_BYTES:
        raise ArchprofError(f"{labels}: {labels.stat().st_size:,} bytes is not a labels file (ImageNet's 50,000 lines take about 2 MB)")
    lines = labels.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    kaggle = bool(lines) and lines[0].replace(" ", "").lower().startswith("imageid,predictionstring")
    seen: dict[str, int] = {}
    samples = []
    for number, line in enumerate(lines[1:] if kaggle else lines, start=2 if kaggle else 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        at = f"{labels}:{number}"
        if len(parts) == 1 and parts[0].isdigit():
            raise ArchprofError(f"{at}: a bare number per line is the devkit's ILSVRC2012_ID order, not the class order; "
                                "write 'FILE LABEL' lines (LABEL 0-999 in sorted WordNet-id order, or the WordNet id)")
        label = _label(parts[1], index) if len(parts) >= 2 else None
        if label is None:
            raise ArchprofError(f"{at}: expected 'FILE LABEL' with LABEL a class index 0-999 or an ImageNet-1k WordNet id, "
                                f"got '{line.strip()[:60]}'")
        image = images.get(parts[0]) or by_stem.get(parts[0])
        if image is None:
            raise ArchprofError(f"{at}: no image '{parts[0]}' in {root}")
        if image.name in seen:
            raise ArchprofError(f"{at}: '{parts[0]}' is labelled twice (first on line {seen[image.name]})")
        seen[image.name] = number
        samples.append((str(image), label))
    unlabelled = sorted(set(images) - set(seen))
    if unlabelled:
        raise ArchprofError(f"{where}: {len(unlabelled)} image(s) have no label in {labels.name} (e.g. {unlabelled[0]})")
    if not samples:
        raise ArchprofError(f"{labels}: no labels")
    return samples


def imagenet_samples(path: str) -> tuple[list[tuple[str, int]], str]:
    """(image path, class index) for every image of ``imagenet:PATH``, and which layout was read."""
    where = f"imagenet:{path}"
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ArchprofError(f"{where}: {'not a folder' if root.exists() else 'no such folder'}; expected {LAYOUTS}")
    if (root / "val").is_dir() and not WNID.fullmatch(root.name):
        nested = _class_folders(root / "val", f"{where} (val/)")
        if nested:
            return nested, "a folder per WordNet id under val/"
    samples = _class_folders(root, where)
    if samples is not None:
        return samples, "a folder per WordNet id"
    labels = next((root / name for name in LABEL_FILES if (root / name).is_file()), None)
    # Kaggle's copy keeps its labels at the top, four folders above the images (ILSVRC/Data/CLS-LOC/val/)
    labels = labels or next((p / KAGGLE for p in list(root.resolve().parents)[:4] if (p / KAGGLE).is_file()), None)
    if labels is not None:
        return _labels_file(root, labels, where), f"the images labelled by {labels.name}"
    found = "images but no labels file" if _images(root) else "no images"
    raise ArchprofError(f"{where}: {found}; expected {LAYOUTS}")


def imagenet(path: str, transform: Callable) -> tuple[ImageFiles, list[str], str]:
    """The images of ``imagenet:PATH`` (every one held out), the 1,000 class names, and how they were found."""
    samples, layout = imagenet_samples(path)
    _, names = synsets()
    present = len({label for _, label in samples})
    return ImageFiles(samples, transform), names, f"ImageNet-1k validation images from {path}: {layout}, {present} of 1,000 classes"
