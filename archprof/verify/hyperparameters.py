"""The settings that equal logits cannot show: what a module does in training, or to memory.

Two networks can give the same eval-mode logits and still train differently. This compares each
normalisation layer's kind and settings (eps, momentum, affine, running statistics), paired with
the reference's through the state_dict renames; each layer scale's initial value against the
reference's freshly initialised tensor; and, call by call in the order of one forward pass, the
non-zero dropout and drop-path rates and the in-place flag of the activations. The first
difference is reported with both modules' names.
"""
from __future__ import annotations

import contextlib
import difflib
import re
from typing import Iterator

import torch
from torch import nn

NORM_SETTINGS = ("eps", "momentum", "affine", "track_running_stats", "elementwise_affine", "num_groups")
NORM_KINDS = ((nn.modules.batchnorm._BatchNorm, "batch norm"), (nn.LayerNorm, "layer norm"), (nn.GroupNorm, "group norm"),
              (nn.LocalResponseNorm, "local response norm"))
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.LeakyReLU)
REGULARISERS = ("dropout", "drop-path")


def _norm_kind(module: nn.Module) -> str | None:
    return next((kind for cls, kind in NORM_KINDS if isinstance(module, cls)), None)


def _rename(key: str, rename: list[tuple[str, str]]) -> str:
    for pattern, repl in rename:
        key = re.sub(pattern, repl, key)
    return key


def _paired(ours: nn.Module, reference: nn.Module, rename) -> Iterator[tuple[str, nn.Module, str, nn.Module]]:
    """Modules owning tensors, paired through the renamed state_dict key of their first tensor."""
    by_name = dict(ours.named_modules())
    for name, module in reference.named_modules():
        own = [k for k, _ in (*module.named_parameters(recurse=False), *module.named_buffers(recurse=False))]
        if not own:
            continue
        key = _rename(f"{name}.{own[0]}" if name else own[0], rename).rpartition(".")[0]
        if key in by_name:
            yield key, by_name[key], name, module


def _rate(module: nn.Module) -> tuple[str, float] | None:
    """("dropout" | "drop-path", rate) of a regulariser module; torchvision's and timm's drop paths alike."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return "dropout", float(module.p)
    name = type(module).__name__
    if name == "StochasticDepth":
        return "drop-path", float(module.p)
    if name == "DropPath":
        return "drop-path", float(module.drop_prob)
    return None


@contextlib.contextmanager
def recorded_calls(model: nn.Module) -> Iterator[list[tuple[str, str, object]]]:
    """Inside the block, every call of an activation (kind, inplace) or a regulariser (kind, rate) of
    ``model`` is appended, in the order of the forward pass, as (module name, kind, setting)."""
    names = {m: n for n, m in model.named_modules()}
    calls: list[tuple[str, str, object]] = []

    def note(module, args):
        rate = _rate(module)
        if rate is not None:
            calls.append((names[module], *rate))
        else:
            calls.append((names[module], type(module).__name__, bool(getattr(module, "inplace", False))))

    hooks = [m.register_forward_pre_hook(note) for m in model.modules() if isinstance(m, ACTIVATIONS) or _rate(m) is not None]
    try:
        yield calls
    finally:
        for hook in hooks:
            hook.remove()


def _norms(ours: nn.Module, reference: nn.Module, rename) -> str | None:
    for our_name, mine, ref_name, theirs in _paired(ours, reference, rename):
        kinds = _norm_kind(mine), _norm_kind(theirs)
        if kinds == (None, None):
            continue
        if kinds[0] != kinds[1]:
            return f"{our_name} is a {kinds[0] or type(mine).__name__}, the reference's {ref_name} a {kinds[1] or type(theirs).__name__}"
        for setting in NORM_SETTINGS:
            a, b = getattr(mine, setting, None), getattr(theirs, setting, None)
            if a is not None and b is not None and a != b:
                return f"{our_name} ({type(mine).__name__}) {setting} {a}, the reference's {ref_name} ({type(theirs).__name__}) {b}"
    return None


def _layer_scales(ours: nn.Module, rename, fresh: dict[str, torch.Tensor]) -> str | None:
    initial = {_rename(k, rename): t for k, t in fresh.items()}
    for name, module in ours.named_modules():
        if type(module).__name__ == "LayerScale" and f"{name}.gamma" in initial:
            value = initial[f"{name}.gamma"]
            if not torch.all(value == module.init):
                return f"{name} (LayerScale) starts at {module.init:g}, the reference's at {float(value.flatten()[0]):g}"
    return None


def _rates(ours_calls: list, reference_calls: list) -> str | None:
    for label in REGULARISERS:   # a zero rate does nothing: a module that is left out is the same
        a = [(n, r) for n, kind, r in ours_calls if kind == label and r > 0]
        b = [(n, r) for n, kind, r in reference_calls if kind == label and r > 0]
        for (na, pa), (nb, pb) in zip(a, b):
            if abs(pa - pb) > 1e-9:
                return f"{label} rate of {na} {pa:g}, of the reference's {nb} {pb:g}"
        if len(a) != len(b):
            name, rate = (a if len(a) > len(b) else b)[min(len(a), len(b))]
            return f"{label}: only {'this spec' if len(a) > len(b) else 'the reference'} has {name} (rate {rate:g})"
    return None


def _in_place(ours_calls: list, reference_calls: list) -> str | None:
    """Activation calls aligned by kind (functional calls the hooks cannot see just stay unpaired)."""
    a = [c for c in ours_calls if c[1] not in REGULARISERS]
    b = [c for c in reference_calls if c[1] not in REGULARISERS]
    matcher = difflib.SequenceMatcher(a=[c[1] for c in a], b=[c[1] for c in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            continue
        for (na, kind, ia), (nb, _, ib) in zip(a[i1:i2], b[j1:j2]):
            if ia != ib:
                return f"{na} ({kind}) inplace={ia}, the reference's {nb} inplace={ib}"
    return None


def first_difference(ours: nn.Module, reference: nn.Module, rename, fresh: dict[str, torch.Tensor],
                     ours_calls: list, reference_calls: list) -> str | None:
    """The first training-relevant setting in which ``ours`` differs from ``reference`` (None: none).

    ``fresh`` is the reference's state_dict as constructed, before any weights were changed; the
    calls are :func:`recorded_calls` of the same forward pass of each model.
    """
    return (_norms(ours, reference, rename) or _layer_scales(ours, rename, fresh)
            or _rates(ours_calls, reference_calls) or _in_place(ours_calls, reference_calls))
