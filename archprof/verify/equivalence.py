"""The proof that a spec is its reference implementation: same weights in, same logits out.

The reference (torchvision or timm) is built with random weights, its 1-D tensors (norm scales,
biases, running statistics, layer-scale gammas) are re-drawn so that no block is a near-identity
that could hide a structural mistake, and its ``state_dict`` is loaded into the compiled spec
through the spec's declared key renames. The spec is built on the meta device and takes the
reference's tensors by assignment, so a 350M-parameter model is never allocated twice.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from archprof.errors import ArchprofError, Location
from archprof.spec import Reference, Spec
from archprof.spec.compiler import compile_plan
from archprof.spec.plan import resolve
from archprof.verify.hyperparameters import first_difference, recorded_calls


@dataclass(frozen=True)
class Equivalence:
    reference: str
    params: int
    reference_params: int
    max_abs_diff: float
    logit_scale: float
    settings: str | None = None   # the first training-relevant setting that differs (hyperparameters module)

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.logit_scale, 1e-12)

    def passed(self, tol: float = 1e-4) -> bool:
        return self.params == self.reference_params and self.relative_diff <= tol and self.settings is None


def reference_model(ref: Reference, where: Location | None = None) -> nn.Module:
    """The public implementation with random weights (never downloads anything). A reference the
    library does not have, or cannot build with the given arguments, is one error at ``where``."""
    if ref.library == "torchvision":
        import torchvision

        names = torchvision.models.list_models()
        build = lambda: torchvision.models.get_model(ref.model, weights=None, **ref.kwargs)  # noqa: E731
    else:
        import timm

        names = timm.list_models()
        build = lambda: timm.create_model(ref.model, pretrained=False, **ref.kwargs)  # noqa: E731
    if ref.model not in names and not (ref.library == "timm" and _timm_has(ref.model)):
        hint = difflib.get_close_matches(ref.model, names, 3)
        raise ArchprofError(f"{ref.library} has no model '{ref.model}'" + (f" (did you mean {', '.join(hint)}?)" if hint else ""),
                            _at(where, "model"))
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - wrong constructor arguments, mostly: one line at the spec
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ArchprofError(f"{ref.library}:{ref.model} cannot be built with kwargs {ref.kwargs}: {type(exc).__name__}: {first}",
                            _at(where, "kwargs")) from None


def _timm_has(name: str) -> bool:
    import timm

    return timm.is_model(name)


def _at(where: Location | None, field: str) -> Location | None:
    return where.child(field) if where is not None else None


def reference_location(spec: Spec) -> Location:
    """Where the spec's ``reference:`` section is written (the file that extends a family, or the family)."""
    from archprof.spec.yamlsrc import load_file, locate

    try:
        raw = load_file(Path(spec.file))
    except ArchprofError:
        raw = None
    if isinstance(raw, dict) and "reference" in raw:
        return locate(raw, ("reference",))
    family = spec.raw if isinstance(spec.raw, dict) else {}
    variant = family.get("variants", {}).get(spec.variant) if spec.variant else None
    if isinstance(variant, dict) and "reference" in variant:
        return locate(family, ("variants", spec.variant, "reference"))
    if "reference" in family:
        return locate(family, ("reference",))
    return Location(spec.file, None, "reference")


def rename_keys(state: dict[str, torch.Tensor], rename: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """A reference's state_dict under the spec's names: the declared substitutions, in order."""
    out = {}
    for key, tensor in state.items():
        for pattern, repl in rename:
            key = re.sub(pattern, repl, key)
        out[key] = tensor
    return out


def renamed_state_dict(reference: nn.Module, rename: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    return rename_keys(reference.state_dict(), rename)


@torch.no_grad()
def _perturb(model: nn.Module, generator: torch.Generator) -> None:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and t.dim() <= 1:
            t.copy_(torch.rand(t.shape, generator=generator) + 0.5)
        elif t.is_floating_point() and not t.any():  # zero-initialised (torchvision ViT's head): logits would not see the input
            t.copy_(torch.randn(t.shape, generator=generator) * 0.02)


def load_reference_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` into ``model`` by assignment, with a per-tensor message on any mismatch."""
    ours = model.state_dict()
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or unexpected:
        raise ArchprofError(f"state_dict keys differ: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for key, tensor in state.items():
        if ours[key].shape != tensor.shape:
            raise ArchprofError(f"{key}: shape {tuple(tensor.shape)} does not fit {tuple(ours[key].shape)}")
    model.load_state_dict(state, assign=True)


def _proof_input(plan) -> tuple[int, ...]:
    """The spec's input, or 256x256 for inputs above 320 that accept it (EfficientNet B4-B7 at
    380-600 px): the same weights give the same logits at any size, at a fraction of the time."""
    from archprof.spec.plan import propagate
    from archprof.spec.registry import ShapeError

    shape = plan.input_shape
    if len(shape) == 3 and shape[1] > 320:
        smaller = (shape[0], 256, 256)
        try:
            propagate(plan.root, (smaller,))
            return smaller
        except ShapeError:
            pass
    return shape


@torch.no_grad()
def check(spec: Spec, *, batch: int = 2, seed: int = 0) -> Equivalence:
    """Compare the compiled spec with its reference on one random batch at the spec's input size."""
    if spec.reference is None:
        raise ArchprofError(f"spec '{spec.name}' declares no reference implementation")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    reference = reference_model(spec.reference, reference_location(spec)).eval()
    fresh = {k: t.clone() for k, t in reference.state_dict().items() if t.dim() <= 1}   # as constructed: initial values
    _perturb(reference, generator)
    plan = resolve(spec)
    ours = compile_plan(plan, device="meta").eval()
    load_reference_weights(ours, renamed_state_dict(reference, spec.reference.rename))
    leftover = [n for n, t in list(ours.named_parameters()) + list(ours.named_buffers()) if t.is_meta]
    if leftover:
        raise ArchprofError(f"tensors not provided by the reference: {leftover[:5]}")
    x = torch.randn(batch, *_proof_input(plan), generator=generator)
    with recorded_calls(reference) as theirs_calls:
        expected = reference(x)
    with recorded_calls(ours) as ours_calls:
        got = ours(x)
    return Equivalence(
        reference=f"{spec.reference.library}:{spec.reference.model}",
        params=sum(p.numel() for p in ours.parameters()),
        reference_params=sum(p.numel() for p in reference.parameters()),
        max_abs_diff=float((expected - got).abs().max()),
        logit_scale=float(expected.abs().max()),
        settings=first_difference(ours, reference, spec.reference.rename, fresh, ours_calls, theirs_calls),
    )


MEMORY_KEYS = {"peak": "peak_activation_bytes", "saved": "saved_activation_bytes"}
MEMORY_TOLERANCE = 0.01   # one percentage point, around 0 or around the spec's explained difference


@dataclass(frozen=True)
class MemoryComparison:
    """The compiled spec's activation memory beside its reference's, traced the same way."""

    ours: dict[str, int]
    reference: dict[str, int]
    expected: dict[str, float]    # explained relative differences (0 where none is explained)

    def delta(self, key: str) -> float:
        return self.ours[key] / self.reference[key] - 1 if self.reference[key] else 0.0

    def failures(self) -> list[str]:
        return [key for key in MEMORY_KEYS if abs(self.delta(key) - self.expected[key]) > MEMORY_TOLERANCE]


def compare_memory(spec: Spec, analysis) -> MemoryComparison:
    """Inference peak and saved-for-backward bytes of ``analysis`` (the spec's) and of its reference."""
    from archprof.analysis.engine import analyze
    from archprof.analysis.sources import Source

    ref = spec.reference
    source = Source(f"{ref.library}:{ref.model}", tuple(analysis.input_shape), lambda: reference_model(ref, reference_location(spec)))
    theirs = analyze(source, input_shape=tuple(analysis.input_shape), batch=analysis.batch, dtype=analysis.dtype).totals
    notes = ref.memory
    expected = {key: float(getattr(notes, key)[:-1]) / 100 if notes and getattr(notes, key) else 0.0 for key in MEMORY_KEYS}
    return MemoryComparison({k: int(analysis.totals[v]) for k, v in MEMORY_KEYS.items()},
                            {k: int(theirs[v]) for k, v in MEMORY_KEYS.items()}, expected)
