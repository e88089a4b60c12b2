"""Input-size constraints derived from the model itself, never written by hand.

A probe answers "does the built model accept a C x S x S input?" (None) or says which layer
breaks. For specs the probe runs the plan's pure-Python shape rules (microseconds per size); for
any other nn.Module it runs a forward pass on the meta device. From the answers over a range of
sizes we read the smallest valid size, whether only one size works (a Linear after flatten, a
fixed position embedding) and the step between valid sizes (patch or window multiples).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from archprof.analysis.sources import Source, build_on_meta
from archprof.spec.plan import propagate
from archprof.spec.registry import ShapeError

Probe = Callable[[int], "str | None"]


@dataclass(frozen=True)
class Constraints:
    declared: int
    min_size: int | None
    max_size: int | None  # None: no upper bound up to the largest size probed
    fixed: bool
    multiple_of: int
    offset: int
    max_probed: int
    regular: bool = True
    examples: tuple[int, ...] = field(default=())

    def describe(self) -> str:
        if self.min_size is None:
            return f"no square size up to {self.max_probed} works"
        if self.fixed:
            return f"exactly {self.min_size}x{self.min_size}"
        upto = f" to {self.max_size}x{self.max_size}" if self.max_size else ""
        if self.multiple_of > 1:
            rule = f"multiples of {self.multiple_of}" if self.offset == 0 else f"sizes = {self.offset} mod {self.multiple_of}"
            return f"{rule}, from {self.min_size}x{self.min_size}{upto}"
        if self.max_size:
            return f"from {self.min_size}x{self.min_size}{upto}" + ("" if self.regular else " (with gaps)")
        return f"any size from {self.min_size}x{self.min_size}" + ("" if self.regular else " (with gaps)")

    def as_dict(self) -> dict:
        return {
            "min_size": [self.min_size, self.min_size] if self.min_size else None,
            "max_size": [self.max_size, self.max_size] if self.max_size else None,
            "fixed_size": self.fixed,
            "multiple_of": self.multiple_of,
            "description": self.describe(),
            "probed_up_to": self.max_probed,
        }


def derive(probe: Probe, declared: int, limit: int | None = None) -> Constraints:
    """Probe square sizes 1..limit (default: twice the declared size, at most 1024) and summarise."""
    limit = limit or min(max(2 * declared, 64), 1024)
    valid = [s for s in range(1, limit + 1) if probe(s) is None]
    if not valid:
        return Constraints(declared, None, None, False, 1, 0, limit)
    step = 0
    for a, b in zip(valid, valid[1:]):
        step = math.gcd(step, b - a)
    step = step or 1
    bounded = valid[-1] + step <= limit  # the valid sizes stop before the probe range does
    regular = valid == list(range(valid[0], valid[-1] + 1, step))
    return Constraints(
        declared=declared,
        min_size=valid[0],
        max_size=valid[-1] if bounded else None,
        fixed=len(valid) == 1,
        multiple_of=step if regular else 1,
        offset=valid[0] % step if regular else 0,
        max_probed=limit,
        regular=regular,
        examples=tuple(valid[:5]),
    )


def derive_by_forward(source: Source, channels: int, declared: int) -> Constraints:
    """For arbitrary modules: a handful of meta forward passes around the declared size.

    The smallest size is found by bisection below the declared size (assuming larger sizes keep
    working, true of conv/pool stacks), and the step from the sizes just above it.
    """
    import torch

    from archprof.analysis.meta_memo import MemoMode

    model = build_on_meta(source).eval()
    memo = MemoMode()

    def probe(size: int) -> str | None:
        try:
            with torch.no_grad(), memo:
                model(torch.empty(1, channels, size, size, device="meta"))
            return None
        except Exception as exc:  # noqa: BLE001 - any failure means "not this size"
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    if probe(declared) is not None:
        return Constraints(declared, None, None, False, 1, 0, declared)
    lo, hi = 1, declared
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if probe(mid) is None else (mid + 1, hi)
    window = [declared + k for k in (1, 2, 4, 8, 16, 32)]
    valid = [declared] + [s for s in window if probe(s) is None]
    step = 0
    for a, b in zip(valid, valid[1:]):
        step = math.gcd(step, b - a)
    fixed = len(valid) == 1 and lo == declared
    return Constraints(declared, lo, declared if len(valid) == 1 and not fixed else None, fixed, step or 1,
                       lo % (step or 1), declared + 32, examples=tuple(valid[:5]))


def input_constraints(src: Source) -> Constraints:
    """Sizes the built model accepts, probed from the plan (specs) or by meta forwards (modules)."""
    channels, declared = src.input_shape[0], src.input_shape[-1]
    if src.plan is not None:
        memo: dict = {}

        def probe(size: int) -> str | None:
            try:
                propagate(src.plan.root, ((channels, size, size),), memo=memo)
                return None
            except ShapeError as exc:
                return str(exc)

        return derive(probe, declared)
    return derive_by_forward(src, channels, declared)
