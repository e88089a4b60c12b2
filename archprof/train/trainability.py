"""Does the spec learn? A short training run of a small setting of the spec on bundled digits.

The spec's ``trainability`` section says how to shrink it (parameter overrides, input size) so
that a few hundred steps run in seconds on a CPU, and which held-out accuracy the run must reach;
chance is 10%. The run uses the real training loop (:func:`archprof.train.train`).

Variants often shrink to the same network (ConvNeXt S/B/L/XL differ only in widths, which the
check overrides): a run is keyed by the small network and its settings, and such variants share
one run (in one process), reported as the same result with ``shared_with`` naming the first spec
that ran it.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from archprof.spec import Spec


@dataclass(frozen=True)
class Trainability:
    data: str
    steps: int
    first_loss: float
    last_loss: float
    accuracy: float
    bar: float
    seconds: float
    setting: str
    shared_with: str | None = None

    @property
    def passed(self) -> bool:
        return self.accuracy >= self.bar and self.last_loss < self.first_loss


def small_spec(spec: Spec) -> Spec:
    t = spec.trainability
    updates = {"params": {**spec.params, **t.params}}
    if t.input is not None:
        updates["input"] = list(t.input)
    return spec.model_copy(update=updates)


_RUNS: dict[str, tuple[str, Trainability]] = {}


def network_key(plan, settings: dict) -> str:
    """Identifies a run: every node's op, arguments and wiring, the init scheme and the settings."""

    def node(n) -> list:
        op = [type(n.op).__name__, n.op.model_dump(mode="json")] if n.op is not None else None
        return [n.name, op, list(n.inputs), list(n.outputs), str(n.output), [node(c) for c in n.children]]

    text = json.dumps([node(plan.root), list(plan.input_shape), plan.spec.init, settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run(spec: Spec, seed: int = 0) -> Trainability:
    from archprof.spec.plan import resolve

    small = small_spec(spec)
    plan = resolve(small)
    settings = spec.trainability.model_dump(exclude={"params", "input", "bar"})
    key = network_key(plan, {**settings, "seed": seed})
    if key in _RUNS:
        first, result = _RUNS[key]
        return replace(result, bar=spec.trainability.bar, shared_with=first)
    result = _train(small, plan, seed)
    _RUNS[key] = (spec.name, result)
    return result


def _train(small: Spec, plan, seed: int) -> Trainability:
    from archprof.spec.recipe import TrainConfig
    from archprof.train.data import open_data
    from archprof.train.loop import train

    t = small.trainability
    per_epoch = len(open_data(t.data, plan.input_shape).train) // t.batch_size
    epochs = max(1, -(-t.steps // per_epoch))
    steps_per_epoch = min(per_epoch, -(-t.steps // epochs))
    config = TrainConfig(epochs=epochs, batch_size=t.batch_size, lr=t.lr, optimizer="adamw", weight_decay=0.05,
                         schedule="cosine", warmup_epochs=t.warmup / steps_per_epoch, seed=seed, device="cpu",
                         steps_per_epoch=steps_per_epoch)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = train(small, t.data, config, Path(out))
    seconds = time.perf_counter() - began
    setting = ", ".join(f"{k}={v}" for k, v in t.params.items())
    if t.input:
        setting = ", ".join(p for p in (setting, "input " + "x".join(map(str, t.input))) if p)
    first, last = result.history[0], result.history[-1]
    return Trainability(t.data, config.epochs * config.steps_per_epoch, first.train_loss, last.train_loss,
                        result.best.val_acc, t.bar, seconds, setting or "as specified")


def run_all(names: list[str]) -> dict[str, Trainability]:
    """The checks of several bundled specs in this process, sharing runs between them."""
    import archprof

    return {name: run(archprof.load_spec(name)) for name in names}


def one_thread() -> None:
    """Process-pool initializer: one intra-op thread per process when checks run side by side."""
    import torch

    torch.set_num_threads(1)
