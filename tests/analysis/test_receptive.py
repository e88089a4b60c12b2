"""Receptive fields against closed forms and against the input-gradient footprint of a real forward.

Each model is also run on the CPU in float64 with random weights: the widest footprint of an
interior output position (the input pixels its gradient reaches, along H and along W) must equal
the reported size, and the footprints of neighbouring positions must be the reported jump apart.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archprof.analysis import analyze


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Focus(nn.Module):
    """YOLOv5's space-to-depth: four strided slices side by side in channels, then a 3x3 conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        parts = [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]]
        return self.conv(torch.cat(parts, 1))


class HalfConvolved(nn.Module):
    """ShuffleNet V2's unit: split the channels, convolve one half, concatenate."""

    def __init__(self):
        super().__init__()
        self.stem, self.branch, self.head = nn.Conv2d(1, 4, 3), nn.Conv2d(2, 2, 5, padding=2), nn.Conv2d(4, 2, 3)

    def forward(self, x):
        kept, convolved = self.stem(x).chunk(2, 1)
        return self.head(torch.cat([kept, self.branch(convolved)], 1))


class SideBySide(nn.Module):
    """The left and right halves of the width stacked as channels: position o sees o and o + 8."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3)

    def forward(self, x):
        left, right = x.split([8, 8], dim=-1)
        return self.conv(torch.cat([left, right], 1))


class TwoPads(nn.Module):
    """Two branches padded on opposite sides: positions o..o+2 and o-2..o, together o-2..o+2."""

    def __init__(self):
        super().__init__()
        self.right, self.left = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return self.right(F.pad(x, (0, 2, 0, 2))) + self.left(F.pad(x, (2, 0, 2, 0)))


class Lift(nn.Module):
    """A 2-D image as a 5-deep volume through a 3-D model, averaged over depth after."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.unsqueeze(2).expand(-1, -1, 5, -1, -1)).mean(2)


def footprints(model: nn.Module, shape: tuple[int, ...], axis: int) -> list[tuple[int, int]]:
    """For each output position along ``axis`` (H = 0, W = 1), at the centre of the other axis, the
    first and last input pixel its gradient reaches; None where it touches the border (clamped)."""
    model = model.double().eval()
    x = torch.randn(1, *shape, dtype=torch.float64, requires_grad=True)
    y = model(x)
    spots = []
    for o in range(y.shape[-2 + axis]):
        index = [0, slice(None)] + [y.shape[-2] // 2, y.shape[-1] // 2]
        index[2 + axis] = o
        (grad,) = torch.autograd.grad(y[tuple(index)].sum(), x, retain_graph=True)
        reached = grad.abs().sum(dim=tuple(range(grad.dim() - 2)))
        line = reached.sum(dim=1 - axis).nonzero().flatten()
        first, last = int(line.min()), int(line.max())
        spots.append(None if first == 0 or last == shape[-2 + axis] - 1 else (first, last))
    return spots


def check_against_gradients(model, shape, size, jump):
    for axis in (0, 1):
        spots = [(o, s) for o, s in enumerate(footprints(model, shape, axis)) if s is not None]
        assert spots, "no interior position: make the input larger"
        assert max(b - a + 1 for _, (a, b) in spots) == size[axis]
        (o1, (a1, _)), (o2, (a2, _)) = spots[0], spots[-1]
        if o2 > o1:
            assert (a2 - a1) / (o2 - o1) == pytest.approx(jump[axis], rel=0.2 if jump[axis] < 1 else 0.05)


CASES = {
    # name: (model, input, size, jump) — sizes and jumps worked out by hand
    "transposed conv divides the jump": (
        nn.Sequential(nn.Conv2d(1, 2, 3, 2), nn.ConvTranspose2d(2, 2, 2, 2)), (1, 41, 41), (3, 3), (1, 1)),
    "transposed 3x3/2 with padding": (
        nn.Sequential(nn.Conv2d(1, 2, 3, 2), nn.ConvTranspose2d(2, 2, 3, 2, padding=1)), (1, 41, 41), (5, 5), (1, 1)),
    "strided slicing": (
        nn.Sequential(Fn(lambda x: x[..., ::2, ::2]), nn.Conv2d(1, 2, 3)), (1, 40, 40), (5, 5), (2, 2)),
    "space to depth (Focus)": (Focus(), (1, 40, 40), (6, 6), (2, 2)),
    "pixel unshuffle": (nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4, 2, 3)), (1, 40, 40), (6, 6), (2, 2)),
    "pixel shuffle": (nn.Sequential(nn.Conv2d(1, 8, 3, 2), nn.PixelShuffle(2), nn.Conv2d(2, 2, 3)), (1, 41, 41), (5, 5), (1, 1)),
    "nearest upsampling then a 2-tap conv": (
        nn.Sequential(nn.Conv2d(1, 2, 3, 2), nn.Upsample(scale_factor=2), nn.Conv2d(2, 2, 2)), (1, 41, 41), (5, 5), (1, 1)),
    "bilinear upsampling": (
        nn.Sequential(nn.Conv2d(1, 2, 3, 2), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(2, 2, 3)),
        (1, 41, 41), (7, 7), (1, 1)),
    "bilinear, corners aligned": (
        nn.Sequential(nn.Conv2d(1, 2, 3, 2), nn.Upsample(size=39, mode="bilinear", align_corners=True)),
        (1, 41, 41), (5, 5), (1, 1)),
    "adaptive pooling 12 -> 5": (
        nn.Sequential(nn.AvgPool2d(1), nn.AdaptiveAvgPool2d(5)), (1, 12, 12), (4, 4), (2.4, 2.4)),
    "branches padded on opposite sides": (TwoPads(), (1, 40, 40), (5, 5), (1, 1)),
    "channel split, one half convolved": (HalfConvolved(), (1, 24, 24), (9, 9), (1, 1)),
    "width split into channels": (SideBySide(), (1, 16, 16), (3, 11), (1, 1)),
    "dilated and strided avg pooling": (
        nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2), nn.AvgPool2d(3, 2, padding=1)), (1, 40, 40), (7, 7), (2, 2)),
}


@pytest.mark.parametrize("name", CASES)
def test_closed_form_and_gradient_footprint(name):
    model, shape, size, jump = CASES[name]
    rf = analyze(model, input_shape=shape).totals["receptive_field"]
    assert rf["status"] == "field"
    assert tuple(rf["size"]) == size and tuple(rf["jump"]) == pytest.approx(jump)
    check_against_gradients(model, shape, size, jump)


def test_three_d_kernels_map_to_the_image_axes_by_position():
    """Conv3d kernel (1, 5, 3), stride (1, 1, 2), dilation (1, 2, 1) on C x D x H x W: H sees 1 + 4·2, W 3 then 3 + 2·2."""
    model = nn.Sequential(nn.Conv3d(1, 2, (1, 5, 3), stride=(1, 1, 2), dilation=(1, 2, 1)), nn.Conv3d(2, 2, (3, 1, 3)))
    rf = analyze(model, input_shape=(1, 5, 24, 24)).totals["receptive_field"]
    assert rf["size"] == [9, 7] and rf["jump"] == [1, 2]
    check_against_gradients(Lift(model), (1, 24, 24), (9, 7), (1, 2))


@pytest.mark.parametrize("op", [
    lambda x: F.unfold(x, 3).sum(1, keepdim=True).view(x.shape[0], 1, x.shape[-2] - 2, x.shape[-1] - 2),
    lambda x: F.fold(x.flatten(2), (x.shape[-2], x.shape[-1]), 1),
    lambda x: x.flip(-1),
    lambda x: x.roll(3, -1),
    lambda x: x.sort(-1).values,
    lambda x: x[..., [0, 2, 1, 3]],
])
def test_unmodelled_ops_are_unknown_never_guessed(op):
    model = nn.Sequential(nn.Conv2d(1, 1, 3), Fn(op), nn.Conv2d(1, 1, 3))
    a = analyze(model, input_shape=(1, 16, 16))
    rf = a.totals["receptive_field"]
    assert rf["status"] == "unknown" and rf["layer"] == "1"
    assert rf["last_known"]["layer"] == "0" and rf["last_known"]["size"] == [3, 3]
    assert a.records[-1]["receptive_field"] == "unknown"


def test_unknown_global_and_field_are_told_apart():
    from archprof.analysis.render import render

    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    lost = nn.Sequential(nn.Conv2d(3, 4, 3), Fn(lambda x: x.flip(-1)), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    seen = {}
    for label, model in (("field", plain), ("global", mlp), ("unknown", lost)):
        a = analyze(model, input_shape=(3, 8, 8))
        seen[label] = a.to_dict()["totals"]["receptive_field"]
        assert seen[label]["status"] == label
        text = render(a, "table")
        assert {"field": "3x3 (jump 1) at 0", "global": "global (from 1)", "unknown": "unknown from 1 (last known 3x3"}[label] in text
    assert seen["global"]["layer"] == "1" and seen["unknown"]["layer"] == "1"
    rows = analyze(mlp, input_shape=(3, 8, 8)).to_dict()["layers"]
    assert [r["receptive_field"] for r in rows] == [{"size": [1, 1], "jump": [1, 1], "gated": False}, "global"]
    lost_rows = analyze(lost, input_shape=(3, 8, 8)).to_dict()["layers"]
    assert [r["receptive_field"] for r in lost_rows][1:] == ["unknown", "unknown", "unknown"]


def test_swin_headline_is_unknown_not_the_patch_embedding():
    rf = analyze("torchvision:swin_t").totals["receptive_field"]
    assert rf["status"] == "unknown" and rf["last_known"]["size"] == [4, 4]


def test_group_norm_statistics_mark_the_field_gated():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.Conv2d(4, 4, 3))
    rf = analyze(model, input_shape=(3, 16, 16)).totals["receptive_field"]
    assert rf["size"] == [5, 5] and rf["gated"]
