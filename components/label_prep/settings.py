"""Label-preparation settings: a light module, imported by the config schema."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class LabelSettings:
    """How labels are weighted, smoothed and validated (config section `labels`).

    `class_weighting: balanced` weights each class by n / (classes * count);
    `label_smoothing` is applied by the trainers' loss; problems (too few examples,
    eval-only labels, blank labels, missing inputs, too many classes) stop the run
    with `on_problem: error` and are logged with `warn` (unusable records are then
    left out of training).
    """

    class_weighting: Literal["balanced", "none"] = "balanced"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    min_examples_per_class: int = Field(1, ge=1)
    max_classes: int = Field(1000, ge=2)
    on_problem: Literal["error", "warn"] = "error"
