"""How images become the tensors a network was evaluated on: the reference's own recipe, or the spec's.

A published accuracy was measured with its library's evaluation transform, and a different resize,
crop or interpolation changes it by tenths of a point. So reference preprocessing is the
library's own object: torchvision's ``Weights.transforms()``, timm's ``resolve_data_config`` +
``create_transform``. Ten-crop evaluation (AlexNet paper: the four corners, the centre and their
mirrors, softmax averaged) takes the same resize and normalisation with torchvision's ``TenCrop``
in place of the centre crop, since neither library ships it as an evaluation preset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

CROPS = ("center", "ten-crop")


@dataclass(frozen=True)
class Preprocessing:
    source: str                       # who defines it: "torchvision ResNet18_Weights.IMAGENET1K_V1", "the spec"
    transform: Callable               # PIL image -> (C, H, W), or (10, C, H, W) with ten crops
    input_shape: tuple[int, int, int]
    steps: str                        # for people: "resize 256 (bilinear), centre crop 224, ..."
    reference: bool = True            # False: the spec's own recipe

    def describe(self) -> str:
        return f"{self.source}: {self.steps}"


class _TenCrop:
    """Resize, then the ten crops stacked as (10, C, H, W), each normalised."""

    def __init__(self, resize: int, crop: int, interpolation, mean, std):
        from torchvision.transforms import v2

        self.resize = v2.Resize(resize, interpolation=interpolation, antialias=True)
        self.crops = v2.TenCrop(crop)
        self.to_tensor = v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])

    def __call__(self, image):
        return torch.stack([self.to_tensor(c) for c in self.crops(self.resize(image))])


def _numbers(values) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def torchvision_preprocessing(weights: str, crop: str = "center", resolution: int | None = None) -> Preprocessing:
    """``Weights.transforms()`` of a torchvision weights enum, at ``resolution`` when given (the
    resize scaled in proportion, as the weights' own ratio of resize to crop)."""
    from torchvision.models import get_weight

    preset = get_weight(weights).transforms
    own = preset()
    size, resize = own.crop_size[0], own.resize_size[0]
    if resolution and resolution != size:
        size, resize = resolution, round(resolution * resize / size)
        own = preset(crop_size=size, resize_size=resize)
    interpolation = own.interpolation
    steps = (f"resize {resize} ({interpolation.value}), {'ten crops' if crop == 'ten-crop' else 'centre crop'} {size}, "
             f"mean {_numbers(own.mean)}, std {_numbers(own.std)}")
    transform = _TenCrop(resize, size, interpolation, own.mean, own.std) if crop == "ten-crop" else own
    return Preprocessing(f"torchvision {weights}.transforms()", transform, (3, size, size), steps)


def timm_preprocessing(weights: str, crop: str = "center", resolution: int | None = None) -> Preprocessing:
    """timm's evaluation transform for a pretrained tag: its train size and ``crop_pct``, or its
    test size and ``test_crop_pct`` when ``resolution`` is the test size."""
    import math

    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg
    from torchvision.transforms import InterpolationMode

    cfg = get_pretrained_cfg(weights).to_dict()
    test = cfg.get("test_input_size")
    use_test = bool(resolution and test and test[-1] == resolution)
    args = {"input_size": (3, resolution, resolution)} if resolution and not use_test else {}
    data = resolve_data_config(args, pretrained_cfg=cfg, use_test_size=use_test)
    size = data["input_size"][-1]
    resize = math.floor(size / data["crop_pct"])
    steps = (f"resize {resize} ({data['interpolation']}, crop_pct {data['crop_pct']:g}), "
             f"{'ten crops' if crop == 'ten-crop' else 'centre crop'} {size}, mean {_numbers(data['mean'])}, std {_numbers(data['std'])}")
    if crop == "ten-crop":
        transform = _TenCrop(resize, size, InterpolationMode(data["interpolation"]), data["mean"], data["std"])
    else:
        transform = create_transform(**data, is_training=False)
    return Preprocessing(f"timm {weights} data config", transform, (3, size, size), steps)


#: The evaluation transform of each reference library, by weights name.
REFERENCE: dict[str, Callable[..., Preprocessing]] = {"torchvision": torchvision_preprocessing, "timm": timm_preprocessing}


def spec_preprocessing(shape: tuple[int, ...]) -> Preprocessing:
    """The spec's own recipe (what ``archprof train`` feeds it): resize to its input, normalise
    with mean 0.5 and std 0.25 per channel."""
    from torchvision.transforms import v2

    size = tuple(shape[1:])
    steps = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Resize(size, antialias=True)]
    if shape[0] == 1:
        steps.insert(1, v2.Grayscale(1))
    steps.append(v2.Normalize([0.5] * shape[0], [0.25] * shape[0]))
    return Preprocessing("the spec", v2.Compose(steps), tuple(shape), f"resize to {'x'.join(map(str, size))}, mean 0.5, std 0.25",
                         reference=False)
