"""Inputs beyond one tensor: example inputs as a tensor, a tuple or a dict, and factories that carry them."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from archprof.analysis import analyze
from archprof.errors import ArchprofError


class ImageAndMask(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gate = nn.Linear(10, 8)

    def forward(self, image, mask, scale=1.0):
        return (self.conv(image) * self.gate(mask)[:, :, None, None]).mean((2, 3)) * scale


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, ids, weights):
        return self.head((self.embed(ids) * weights[..., None]).sum(1))


CONV_MACS = 8 * 3 * 9 * 16 * 16   # 3x3 conv, 3 -> 8 channels, 16x16 output, per sample


def test_a_tensor():
    a = analyze(nn.Conv2d(3, 8, 3, padding=1), input_data=torch.randn(4, 3, 16, 16))
    assert (a.batch, a.input_shape, a.totals["macs"]) == (4, (3, 16, 16), 4 * CONV_MACS)
    assert a.input_constraints["min_size"] == [1, 1]   # one image tensor: its sizes are probed


def test_a_tuple_of_positional_tensors():
    a = analyze(ImageAndMask(), input_data=(torch.randn(2, 3, 16, 16), torch.randn(2, 10)))
    assert a.batch == 2 and a.totals["macs"] == 2 * (CONV_MACS + 10 * 8)
    assert a.totals["params"] == 8 * 3 * 9 + 8 + 10 * 8 + 8
    assert [e["shape"] for e in a.to_dict()["example_inputs"]] == [[2, 3, 16, 16], [2, 10]]
    assert a.input_constraints["description"].startswith("not probed: the model takes several inputs")
    rf = a.totals["receptive_field"]
    assert (rf["status"], rf["size"]) == ("field", [3, 3])   # the image is the image; the mask only gates


def test_a_dict_of_keyword_tensors():
    ids = torch.randint(0, 100, (3, 7))
    a = analyze(Tokens(), input_data={"ids": ids, "weights": torch.rand(3, 7)})
    assert a.batch == 3 and a.totals["macs"] == 3 * 16 * 2
    names = [e["name"] for e in a.example_inputs]
    assert names == ["ids", "weights"] and a.example_inputs[0]["dtype"] == "int64"


def test_inputs_are_never_read_or_moved():
    image = torch.randn(1, 3, 16, 16)
    before = image.clone()
    analyze(ImageAndMask(), input_data=(image, torch.randn(1, 10)))
    assert image.device.type == "cpu" and torch.equal(image, before)


def test_a_forward_with_two_inputs_says_how_to_give_them():
    with pytest.raises(ArchprofError, match=r"forward takes 2 inputs \(image, mask\): give example inputs, analyze\(model, input_data="):
        analyze(ImageAndMask(), input_shape=(3, 16, 16))


@pytest.mark.parametrize("bad", [42, (), {"x": 1}])
def test_bad_example_inputs_are_one_line(bad):
    with pytest.raises(ArchprofError):
        analyze(ImageAndMask(), input_data=bad)


def test_a_factory_may_carry_its_example_inputs(tmp_path):
    source = tmp_path / "model.py"
    source.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Both(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a, self.b = nn.Linear(4, 3), nn.Linear(5, 3)\n"
        "    def forward(self, x, y):\n        return self.a(x) + self.b(y)\n\n"
        "Both.example_input = lambda: (torch.randn(2, 4), torch.randn(2, 5))\n")
    a = analyze(f"{source}:Both")
    assert a.batch == 2 and a.totals["macs"] == 2 * (4 * 3 + 5 * 3)
