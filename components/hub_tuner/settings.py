"""Tuning settings (config section `tuning`): a light module, imported by the config schema."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

TUNING_KEY = "tuning"  # Tuner custom_config key holding this section


class TuningConfig(BaseModel):
    """KerasTuner random search run by the TFX Tuner before the Trainer (off by default).

    Each trial trains with the `training` settings for `trial_epochs` epochs per
    phase, with hyperparameters drawn from these [low, high] bounds: dense head
    layers (`head_depth`, each `head_width` units), `dropout`, `learning_rate`
    (log scale) and, in `incremental` mode, `unfreeze_blocks`. Trials are compared
    on validation accuracy over `training.validation_fraction` of the train split;
    the best hyperparameters feed the Trainer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    max_trials: int = Field(6, ge=1)
    trial_epochs: int = Field(20, ge=1)
    head_depth: tuple[int, int] = (0, 2)
    head_width: tuple[int, int] = (32, 256)
    dropout: tuple[float, float] = (0.0, 0.5)
    learning_rate: tuple[float, float] = (1e-3, 3e-2)
    unfreeze_blocks: tuple[int, int] = (1, 3)

    @field_validator("head_depth", "head_width", "dropout", "learning_rate", "unfreeze_blocks")
    @classmethod
    def _ordered_bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1] or value[0] < 0:
            raise ValueError("expected [low, high] with 0 <= low <= high")
        return value

    @field_validator("head_width", "learning_rate", "unfreeze_blocks")
    @classmethod
    def _positive_bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("bounds must be positive")
        return value

    @field_validator("dropout")
    @classmethod
    def _dropout_below_one(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[1] >= 1:
            raise ValueError("dropout must stay below 1")
        return value
