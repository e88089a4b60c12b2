"""The proof that a spec is its reference implementation: same weights in, same logits out.

The reference (torchvision or timm) is built with random weights, its 1-D tensors (norm scales,
biases, running statistics, layer-scale gammas) are re-drawn so that no block is a near-identity
that could hide a structural mistake, and its ``state_dict`` is loaded into the compiled spec
through the spec's declared key renames. The spec is built on the meta device and takes the
reference's tensors by assignment, so a 350M-parameter model is never allocated twice.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from archprof.errors import ArchprofError
from archprof.spec import Reference, Spec
from archprof.spec.compiler import compile_plan
from archprof.spec.plan import resolve


@dataclass(frozen=True)
class Equivalence:
    reference: str
    params: int
    reference_params: int
    max_abs_diff: float
    logit_scale: float

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.logit_scale, 1e-12)

    def passed(self, tol: float = 1e-4) -> bool:
        return self.params == self.reference_params and self.relative_diff <= tol


def reference_model(ref: Reference) -> nn.Module:
    """The public implementation with random weights (never downloads anything)."""
    if ref.library == "torchvision":
        import torchvision

        return torchvision.models.get_model(ref.model, weights=None, **ref.kwargs)
    import timm

    return timm.create_model(ref.model, pretrained=False, **ref.kwargs)


def renamed_state_dict(reference: nn.Module, rename: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in reference.state_dict().items():
        for pattern, repl in rename:
            key = re.sub(pattern, repl, key)
        out[key] = tensor
    return out


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
    reference = reference_model(spec.reference).eval()
    _perturb(reference, generator)
    plan = resolve(spec)
    ours = compile_plan(plan, device="meta").eval()
    load_reference_weights(ours, renamed_state_dict(reference, spec.reference.rename))
    leftover = [n for n, t in list(ours.named_parameters()) + list(ours.named_buffers()) if t.is_meta]
    if leftover:
        raise ArchprofError(f"tensors not provided by the reference: {leftover[:5]}")
    x = torch.randn(batch, *_proof_input(plan), generator=generator)
    expected, got = reference(x), ours(x)
    return Equivalence(
        reference=f"{spec.reference.library}:{spec.reference.model}",
        params=sum(p.numel() for p in ours.parameters()),
        reference_params=sum(p.numel() for p in reference.parameters()),
        max_abs_diff=float((expected - got).abs().max()),
        logit_scale=float(expected.abs().max()),
    )
