"""Stage 3, training and evaluation: reference training offline, checkpoints, metrics.

:mod:`.data` opens the bundled and on-disk data sets (never downloads), :mod:`.loop` trains
(recipes from the spec, DDP under torchrun, atomic per-epoch checkpoints, resume),
:mod:`.checkpoint` reads and writes safetensors checkpoints without running code,
:mod:`.evaluate` measures a checkpoint, :mod:`.trainability` is the short CPU check that a spec
learns, and :mod:`.plots` draws learning curves, confusion matrices and t-SNE maps.
"""
from archprof._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "train": "loop",
    "TrainConfig": "loop",
    "model_for": "loop",
    "TrainResult": "loop",
    "open_data": "data",
})
