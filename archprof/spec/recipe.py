"""Training settings: one validated set of knobs, filled from a spec's recipe and the command line.

Kept free of torch so that specs (whose ``recipe`` sections use these names) validate quickly.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

from archprof.errors import ArchprofError


@dataclass(config=ConfigDict(extra="forbid"))
class TrainConfig:
    epochs: int = Field(10, gt=0)
    batch_size: int = Field(64, gt=0)
    lr: float = Field(0.05, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    mixup: float = Field(0.0, ge=0)
    cutmix: float = Field(0.0, ge=0)
    randaugment: bool = False
    random_erasing: float = Field(0.0, ge=0, le=1)
    crop_flip: bool = False
    pca_lighting: float = Field(0.0, ge=0)
    ema: Optional[float] = Field(None, gt=0, lt=1)
    drop_path: Optional[float] = Field(None, ge=0, lt=1)  # for specs with a drop_path_rate parameter
    seed: int = 0
    device: str = "auto"
    steps_per_epoch: Optional[int] = Field(None, gt=0)  # cap (trainability checks, tests)
    workers: int = Field(0, ge=0)

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any] | None, **overrides: Any) -> "TrainConfig":
        """A recipe section of a spec (``source``/``note`` are documentation), then explicit overrides."""
        values = {k: v for k, v in (recipe or {}).items() if k not in ("source", "note")}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "recipe"
            raise ArchprofError(f"recipe.{field}: {err['msg']}") from None
        except TypeError as exc:
            raise ArchprofError(f"recipe: {exc}") from None


RECIPE_FIELDS = frozenset(TrainConfig.__dataclass_fields__) | {"source", "note"}
