"""Weight initialisation schemes that specs name in their ``init`` section.

PyTorch's default initialisation is not what the papers (or torchvision/timm) use, and it
matters for training: VGG without batch norm does not learn from the default init at all.
A spec writes, e.g., ``init: {conv: kaiming_normal_fan_out, linear: normal(0.01)}``; biases of
initialised layers start at zero; norm layers keep γ = 1, β = 0.
"""
from __future__ import annotations

import re
from typing import Any

SCHEMES = ("default", "kaiming_normal_fan_out", "kaiming_normal_fan_in", "kaiming_uniform_fan_in", "xavier_uniform",
           "normal", "trunc_normal", "uniform_fan_in")
KINDS = ("conv", "linear")
_SYNTAX = re.compile(r"^(?P<name>[a-z_]+)(\((?P<arg>[0-9.eE+-]+)\))?$")


def parse(text: str) -> tuple[str, float | None]:
    """``normal(0.01)`` -> ("normal", 0.01); raises ValueError with the allowed names."""
    match = _SYNTAX.match(str(text).strip())
    if not match or match["name"] not in SCHEMES:
        raise ValueError(f"unknown init scheme '{text}' (allowed: {', '.join(SCHEMES)}, with normal(std) / trunc_normal(std))")
    arg = float(match["arg"]) if match["arg"] else None
    if match["name"] in ("normal", "trunc_normal") and arg is None:
        raise ValueError(f"'{match['name']}' needs a standard deviation, e.g. {match['name']}(0.02)")
    return match["name"], arg


def validate(init: dict[str, Any]) -> dict[str, Any]:
    for kind, scheme in init.items():
        if kind not in KINDS:
            raise ValueError(f"init applies to {', '.join(KINDS)}, not '{kind}'")
        parse(scheme)
    return init


def apply(model: Any, init: dict[str, str]) -> None:
    """Initialise every Conv2d / Linear of ``model`` with the spec's schemes."""
    import math

    import torch
    from torch import nn

    kinds = {"conv": (nn.Conv2d,), "linear": (nn.Linear,)}
    with torch.no_grad():
        for kind, scheme in init.items():
            name, arg = parse(scheme)
            if name == "default":
                continue
            for module in model.modules():
                if not isinstance(module, kinds[kind]) or module.weight.is_meta:
                    continue
                w = module.weight
                if name == "kaiming_normal_fan_out":
                    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
                elif name == "kaiming_normal_fan_in":
                    nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
                elif name == "kaiming_uniform_fan_in":
                    nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")
                elif name == "xavier_uniform":
                    nn.init.xavier_uniform_(w)
                elif name == "normal":
                    nn.init.normal_(w, 0.0, arg)
                elif name == "trunc_normal":
                    nn.init.trunc_normal_(w, std=arg, a=-2 * arg, b=2 * arg)
                elif name == "uniform_fan_in":  # torchvision's EfficientNet/MobileNetV3 classifier
                    bound = 1.0 / math.sqrt(w.shape[1])
                    nn.init.uniform_(w, -bound, bound)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
