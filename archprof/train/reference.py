"""The reference's own weight files: which weights a figure names, where their file lies, and how
its tensors become the spec's.

Weights are named as their library names them: a torchvision weights enum
(``ResNet18_Weights.IMAGENET1K_V1``, file ``resnet18-f37072fd.pth``) or a timm pretrained tag
(``convnext_tiny.fb_in1k``, file ``model.safetensors`` of the Hugging Face repository
``timm/convnext_tiny.fb_in1k``). A file's tensors reach the spec in three steps: the library's own
fix-ups of old key names (torchvision's DenseNet ``norm.1`` keys, a timm model's
``checkpoint_filter_fn`` for its original releases), then the spec's declared ``reference.rename``,
then a strict load that names every tensor that does not fit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from archprof.errors import ArchprofError
from archprof.spec import Figure, Reference, Spec


@dataclass(frozen=True)
class ReferenceWeights:
    library: str     # "torchvision" or "timm"
    name: str        # "ResNet18_Weights.IMAGENET1K_V1", "convnext_tiny.fb_in1k"

    def __str__(self) -> str:
        return f"{self.library} {self.name}"

    def file_names(self) -> list[str]:
        """Where the weights' file may lie in a folder, as downloaded by the library or by hand."""
        return FILES[self.library](self.name)

    def find(self, folder: Path) -> Path | None:
        for pattern in self.file_names():
            found = sorted(Path(folder).expanduser().glob(pattern))
            if found:
                return found[0]
        return None

    def preprocessing(self, crop: str = "center", resolution: int | None = None):
        from archprof.train.preprocess import REFERENCE

        return REFERENCE[self.library](self.name, crop, resolution)


def _torchvision_files(name: str) -> list[str]:
    from torchvision.models import get_weight

    file = Path(get_weight(name).url).name
    return [file, f"checkpoints/{file}", f"hub/checkpoints/{file}"]     # as under TORCH_HOME


def _timm_files(name: str) -> list[str]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    hub = f"models--{cfg.hf_hub_id.replace('/', '--')}/snapshots/*/model.safetensors" if cfg.hf_hub_id else None
    own = [Path(cfg.url).name] if cfg.url else []
    return [f"{name}.safetensors", f"{name}/model.safetensors", f"{name}.pth", f"{name}/pytorch_model.bin",
            *([hub, f"hub/{hub}"] if hub else []), *own]


FILES = {"torchvision": _torchvision_files, "timm": _timm_files}


def _torchvision_names(model: str) -> list[str]:
    from torchvision.models import get_model_weights

    return [f"{type(w).__name__}.{w.name}" for w in get_model_weights(model)]


def _timm_names(model: str) -> list[str]:
    import timm

    return timm.list_pretrained(f"{model.split('.')[0]}.*")


#: The weights a library publishes for one of its models.
PUBLISHED = {"torchvision": _torchvision_names, "timm": _timm_names}


def published(ref: Reference) -> list[str]:
    try:
        return PUBLISHED[ref.library](ref.model)
    except (KeyError, ValueError):
        return []


def named(ref: Reference, name: str, where: str) -> ReferenceWeights:
    """The weights ``name`` of the reference's model, or one line saying which it has."""
    names = published(ref)
    if name not in names:
        raise ArchprofError(f"{where}: {ref.library} publishes no weights '{name}' for {ref.model}"
                            + (f" (it has {', '.join(names[:4])}{', …' if len(names) > 4 else ''})" if names else ""))
    return ReferenceWeights(ref.library, name)


def figure_weights(spec: Spec, figure: Figure) -> ReferenceWeights | None:
    """The reference weights that measured an accuracy figure: its ``weights:`` entry, else the
    weights its source names (``torchvision ResNet18_Weights.IMAGENET1K_V1``), else none."""
    ref = spec.reference
    if ref is None:
        if figure.weights:
            raise ArchprofError(f"{spec.file}: {spec.name} figure {figure.metric} {figure.value:g}: weights: "
                                "names a reference's weights, but the spec declares no reference")
        return None
    if figure.weights:
        return named(ref, figure.weights, f"{spec.file}: {spec.name} figure {figure.metric} {figure.value:g}: weights")
    if not figure.source.startswith(ref.library):
        return None
    mentioned = set(re.findall(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+", figure.source))
    return next((ReferenceWeights(ref.library, n) for n in published(ref) if n in mentioned), None)


def weights_for_file(spec: Spec, path: Path) -> ReferenceWeights:
    """The reference weights a file holds, by its name (``resnet18-f37072fd.pth``,
    ``convnext_tiny.fb_in1k/model.safetensors``); else those of the spec's first accuracy
    figure; else the library's default weights of the model."""
    ref = spec.reference
    names = published(ref)
    for name in names:
        weights = ReferenceWeights(ref.library, name)
        if any(path.match(pattern) or path.name == pattern for pattern in weights.file_names()):
            return weights
    for part in [path.stem, *(p.name for p in path.parents)]:
        tag = part.removeprefix(f"models--{ref.library}--")
        if tag in names:
            return ReferenceWeights(ref.library, tag)
    for figure in spec.figures:
        if figure.metric == "top1" and (weights := figure_weights(spec, figure)) is not None:
            return weights
    if not names:
        raise ArchprofError(f"{ref.library} publishes no weights for {ref.model}, so it has no evaluation transform; use --preprocess spec")
    return ReferenceWeights(ref.library, DEFAULT[ref.library](ref.model))


def _torchvision_default(model: str) -> str:
    from torchvision.models import get_model_weights

    default = get_model_weights(model).DEFAULT
    return f"{type(default).__name__}.{default.name}"


def _timm_default(model: str) -> str:
    from timm.models import get_pretrained_cfg

    return model if "." in model else f"{model}.{get_pretrained_cfg(model).tag}"


DEFAULT = {"torchvision": _torchvision_default, "timm": _timm_default}


# -- from the file's keys to the spec's ------------------------------------------------------
#: torchvision's DenseNet files keep the keys of old module names ('norm.1'), which its loader rewrites.
_DENSENET_KEYS = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _torchvision_fixups(state: dict[str, torch.Tensor], reference) -> dict[str, torch.Tensor]:
    return {(f"{m.group(1)}{m.group(2)}" if (m := _DENSENET_KEYS.match(k)) else k): v for k, v in state.items()}


def _timm_fixups(state: dict[str, torch.Tensor], reference) -> dict[str, torch.Tensor]:
    """The model module's ``checkpoint_filter_fn``: what timm applies to the original releases."""
    import sys

    convert = getattr(sys.modules.get(type(reference).__module__), "checkpoint_filter_fn", None)
    if convert is None:
        return state
    try:
        return dict(convert(dict(state), reference))
    except Exception:  # noqa: BLE001 - a converter for another format: the strict load below names what does not fit
        return state


FIXUPS = {"torchvision": _torchvision_fixups, "timm": _timm_fixups}


def _weights(keys) -> set[str]:
    """Names without batch-norm step counters, which files saved before PyTorch 1.0 lack."""
    return {k for k in keys if not k.endswith("num_batches_tracked")}


def spec_state(spec: Spec, tensors: dict[str, torch.Tensor], ours: set[str]) -> dict[str, torch.Tensor]:
    """``tensors`` under the spec's names: as they are when they already are (an archprof
    checkpoint), else as a reference file, fixed up by its library and renamed by the spec."""
    if _weights(tensors) == _weights(ours) or spec.reference is None:
        return tensors
    from archprof.verify.equivalence import reference_model, rename_keys

    with torch.device("meta"):
        reference = reference_model(spec.reference)
    if _weights(tensors) != _weights(reference.state_dict()):
        tensors = FIXUPS[spec.reference.library](tensors, reference)
    return rename_keys(tensors, spec.reference.rename)


def known_file(path: Path) -> str | None:
    """The torchvision weights a file is named after, whatever the model ('ResNet34_Weights.IMAGENET1K_V1')."""
    import torchvision

    for model in torchvision.models.list_models():
        for w in torchvision.models.get_model_weights(model):
            if Path(w.url).name == path.name:
                return f"torchvision {type(w).__name__}.{w.name}"
    return None
