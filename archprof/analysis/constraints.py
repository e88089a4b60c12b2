"""Input-size constraints derived from the model itself, never written by hand, never extrapolated.

A probe answers "does the built model accept a C x S x S input?" (None) or says which layer
breaks. For specs the probe runs the plan's pure-Python shape rules (microseconds per size), so
every size up to twice the declared one is tried. Any other nn.Module runs meta forward passes,
a few dozen at most: the analysed size, its neighbours, sizes far below and above it; then the
ends of the working range are searched among the sizes the pattern allows and pinned down by a
working size with a failing one just outside it. What is reported is what was seen: the smallest
and largest working sizes, the modulus and the remainders the working sizes share, and the sizes
tried (``probed``). Where no pattern explains every answer, the working sizes are listed instead.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from archprof.analysis.sources import Source, build_on_meta
from archprof.spec.plan import propagate
from archprof.spec.registry import ShapeError

Probe = Callable[[int], "str | None"]

#: Moduli a size rule may have: strides are powers of two, times 3, 5 or 7 for odd patch and window sizes.
MODULI = sorted({2 ** a * b for a in range(10) for b in (1, 3, 5, 7) if 2 ** a * b <= 512})
MAX_RESIDUES = 4  # a rule with more remainders than this is listed as seen, not claimed


@dataclass(frozen=True)
class Constraints:
    analysed: int
    probed: tuple[int, ...]          # every square size tried, ascending
    valid: tuple[int, ...]           # those that worked
    min_size: int | None
    max_size: int | None             # None: every allowed size tried above min_size worked
    multiple_of: int | None          # None: no pattern explains every answer
    residues: tuple[int, ...] = ()   # remainders modulo multiple_of that work

    @property
    def fixed(self) -> bool:
        return self.min_size is not None and self.min_size == self.max_size

    def describe(self) -> str:
        if not self.valid:
            return f"no square size tried works (tried {_ranges_text(self.probed)})"
        if self.multiple_of is None:
            return f"works at {_ranges_text(self.valid)} of the sizes tried ({_ranges_text(self.probed)})"
        if self.fixed:
            return f"exactly {self.min_size}x{self.min_size}"
        m, residues = self.multiple_of, self.residues
        if m == 1:
            rule = "any size"
        elif residues == (0,):
            rule = f"multiples of {m}"
        else:
            rule = "sizes = " + " or ".join(map(str, residues)) + f" mod {m}"
        upto = f" to {self.max_size}x{self.max_size}" if self.max_size else f" (tried up to {self.probed[-1]})"
        return f"{rule}, from {self.min_size}x{self.min_size}{upto}"

    def as_dict(self) -> dict:
        return {
            "min_size": [self.min_size, self.min_size] if self.min_size else None,
            "max_size": [self.max_size, self.max_size] if self.max_size else None,
            "fixed_size": self.fixed,
            "multiple_of": self.multiple_of,
            "residues": list(self.residues) if self.multiple_of else None,
            "description": self.describe(),
            "analysed": self.analysed,
            "probed": [list(r) for r in _ranges(self.probed)],
            "valid": [list(r) for r in _ranges(self.valid)],
            "probed_up_to": self.probed[-1] if self.probed else None,
        }


def _ranges(sizes) -> list[tuple[int, int]]:
    """Sorted sizes as runs of consecutive sizes: [1, 2, 3, 8] -> [(1, 3), (8, 8)]."""
    runs: list[list[int]] = []
    for s in sorted(sizes):
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return [tuple(r) for r in runs]


def _ranges_text(sizes) -> str:
    runs = [f"{a}" if a == b else f"{a}-{b}" for a, b in _ranges(sizes)]
    return ", ".join(runs) if len(runs) <= 12 else ", ".join(runs[:6] + ["…"] + runs[-5:])


def _pattern(answers: dict[int, bool]) -> tuple[int | None, tuple[int, ...]]:
    """The smallest modulus whose remainders tell every working size from every failing one
    between the smallest and the largest working size tried."""
    valid = sorted(s for s, ok in answers.items() if ok)
    inside = [s for s in answers if valid[0] <= s <= valid[-1]]
    for m in MODULI:
        residues = {v % m for v in valid}
        if m > 1 and len(residues) == m:
            continue  # every remainder: that is modulus 1
        if all(answers[s] == (s % m in residues) for s in inside):
            return m, tuple(sorted(residues))
    return None, ()


class _Allowed:
    """The sizes with an allowed remainder, numbered: index i <-> size."""

    def __init__(self, m: int, residues: tuple[int, ...]):
        self.m, self.residues = m, residues
        self.first = 0 if residues[0] >= 1 else 1   # sizes start at 1

    def size(self, i: int) -> int:
        turns, k = divmod(i, len(self.residues))
        return turns * self.m + self.residues[k]

    def index(self, size: int) -> int:
        turns, r = divmod(size, self.m)
        return turns * len(self.residues) + self.residues.index(r)

    def allows(self, size: int) -> bool:
        return size % self.m in self.residues


def explore(probe: Probe, analysed: int, cap: int) -> Constraints:
    """Probe a module's square sizes around ``analysed`` (up to ``cap``) and say what was seen."""
    answers: dict[int, bool] = {}

    def works(size: int) -> bool:
        if size not in answers:
            answers[size] = probe(size) is None
        return answers[size]

    if not works(analysed):
        return _summary(analysed, answers, None, ())
    powers = [2 ** k for k in range(12) if 2 ** k < analysed]
    near = [analysed + d for d in (-32, -16, -8, -4, -2, -1, 1, 2, 4, 8, 16, 32, 64)]
    for size in sorted({*powers, analysed // 2, *near, 2 * analysed, 4 * analysed}):
        if 1 <= size <= cap:
            works(size)
    m, residues = _pattern(answers)
    if m is None or len(residues) > MAX_RESIDUES:
        return _irregular(analysed, answers, works, cap)
    allowed = _Allowed(m, residues)
    valid = sorted(s for s, ok in answers.items() if ok)

    # the lower end: the smallest working allowed size, with the allowed size below it failing
    lo, hi = allowed.first, allowed.index(valid[0])
    below = [allowed.index(s) for s, ok in answers.items() if not ok and s < valid[0] and allowed.allows(s)]
    lo = max([lo] + [i + 1 for i in below])
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(allowed.size(mid)) else (mid + 1, hi)

    # the upper end: walk up in growing steps to the first failure, then close in on the boundary
    top, last = allowed.index(valid[-1]), allowed.index(max(s for s in range(cap + 1) if allowed.allows(s)))
    above = [allowed.index(s) for s, ok in answers.items() if not ok and s > valid[-1] and allowed.allows(s)]
    fail = min(above) if above else None
    step = 1
    while fail is None and top < last:
        i = min(top + step, last)
        if works(allowed.size(i)):
            top, step = i, step * 2
        else:
            fail = i
    while fail is not None and fail - top > 1:
        mid = (top + fail) // 2
        top, fail = (mid, fail) if works(allowed.size(mid)) else (top, mid)
    # the pattern once more, around the analysed size: each allowed remainder and its neighbours
    for r in residues:
        for neighbour in {r, (r + 1) % m, (r - 1) % m}:
            size = analysed + 1 + (neighbour - analysed - 1) % m
            if size <= cap:
                works(size)
    if _pattern(answers) != (m, residues):
        return _irregular(analysed, answers, works, cap)   # answers the pattern does not explain
    return _summary(analysed, answers, m, residues, allowed.size(top) if fail is not None else None)


def _irregular(analysed: int, answers: dict[int, bool], works: Callable[[int], bool], cap: int) -> Constraints:
    """No pattern: list the working sizes seen, with the smallest and largest pinned down by a
    failing size just outside each (a few steps at most)."""
    for direction in (-1, 1):
        edge = (min if direction < 0 else max)(s for s, ok in answers.items() if ok)
        step, fail = 1, None
        while fail is None and 1 <= edge + direction <= cap:   # gallop outwards to a failure ...
            nxt = min(max(edge + direction * step, 1), cap)
            if works(nxt):
                edge, step = nxt, step * 2
            else:
                fail = nxt
        while fail is not None and abs(fail - edge) > 1:      # ... then close in on the boundary
            mid = (edge + fail) // 2
            edge, fail = (mid, fail) if works(mid) else (edge, mid)
    return _summary(analysed, answers, None, ())


def _summary(analysed: int, answers: dict[int, bool], m: int | None, residues: tuple[int, ...],
             max_size: int | None = None) -> Constraints:
    valid = tuple(sorted(s for s, ok in answers.items() if ok))
    return Constraints(analysed, tuple(sorted(answers)), valid, valid[0] if valid else None,
                       (max_size if m is not None else (valid[-1] if valid else None)), m, residues)


def derive(probe: Probe, analysed: int, limit: int | None = None) -> Constraints:
    """Specs: every square size 1..limit (default twice the analysed size, at most 1024 but never
    below the analysed size) through the plan's shape rules."""
    limit = max(limit or min(max(2 * analysed, 64), 1024), analysed)
    answers = {s: probe(s) is None for s in range(1, limit + 1)}
    if not any(answers.values()):
        return _summary(analysed, answers, None, ())
    m, residues = _pattern(answers)
    valid = [s for s, ok in answers.items() if ok]
    if m is None:
        return _summary(analysed, answers, None, ())
    bounded = any(not ok and s > valid[-1] and s % m in residues for s, ok in answers.items())
    return _summary(analysed, answers, m, residues, valid[-1] if bounded else None)


def derive_by_forward(source: Source, channels: int, analysed: int, fallback: bool = False) -> Constraints:
    """For arbitrary modules: meta forward passes, a few dozen at most (:func:`explore`).

    With ``fallback``, a default size the built model rejects (torchvision's ViT-H/14 is built for
    224 while its weights' preset says 518) gives way to the size the model says it was built for."""
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

    probe = functools.cache(probe)   # the fallback's first answer is explore's first question
    if fallback and probe(analysed) is not None:
        for size in _built_for(model):
            if size != analysed and probe(size) is None:
                analysed = size
                break
    return explore(probe, analysed, cap=max(4 * analysed, 64))


def _built_for(model) -> list[int]:
    """Square sizes a module says it was built for: an ``image_size``/``img_size`` attribute, timm's config, 224."""
    sizes = []
    for value in (getattr(model, "image_size", None), getattr(model, "img_size", None),
                  (getattr(model, "pretrained_cfg", None) or {}).get("input_size"), 224):
        value = value[-1] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, int) and value > 0 and value not in sizes:
            sizes.append(value)
    return sizes


def input_constraints(src: Source, shape: tuple[int, ...] | None = None) -> Constraints:
    """Sizes the built model accepts around the analysed ``shape`` (default: the source's own; when
    the model rejects that, around the size it was built for: see ``Constraints.analysed``)."""
    fallback = shape is None
    shape = tuple(shape or src.input_shape)
    channels, analysed = shape[0], shape[-1]
    if src.plan is not None:
        memo: dict = {}

        def probe(size: int) -> str | None:
            try:
                propagate(src.plan.root, ((channels, size, size),), memo=memo)
                return None
            except ShapeError as exc:
                return str(exc)

        return derive(probe, analysed)
    return derive_by_forward(src, channels, analysed, fallback)
