"""Does the spec learn? A short training run of a small setting of the spec on bundled digits.

The spec's ``trainability`` section says how to shrink it (parameter overrides, input size) so
that a few hundred steps run in seconds on a CPU, and which held-out accuracy the run must reach;
chance is 10%. The run uses the real training loop (:func:`archprof.train.train`).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
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

    @property
    def passed(self) -> bool:
        return self.accuracy >= self.bar and self.last_loss < self.first_loss


def small_spec(spec: Spec) -> Spec:
    t = spec.trainability
    updates = {"params": {**spec.params, **t.params}}
    if t.input is not None:
        updates["input"] = list(t.input)
    return spec.model_copy(update=updates)


def run(spec: Spec, seed: int = 0) -> Trainability:
    from archprof.data import open_data
    from archprof.plan import resolve
    from archprof.train import TrainConfig, train

    t = spec.trainability
    small = small_spec(spec)
    plan = resolve(small)
    per_epoch = len(open_data(t.data, plan.input_shape).train) // t.batch_size
    epochs = max(1, -(-t.steps // per_epoch))
    config = TrainConfig(epochs=epochs, batch_size=t.batch_size, lr=t.lr, optimizer="adamw", weight_decay=0.05,
                         schedule="cosine", warmup_epochs=0, seed=seed, device="cpu",
                         steps_per_epoch=min(per_epoch, -(-t.steps // epochs)))
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
