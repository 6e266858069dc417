"""Trainer settings and training plans for benchmarks: the built-in config's training settings, with the benchmark's own values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrain.components.trainer_settings import TrainerSettings

if TYPE_CHECKING:
    from retrain.components.training_core.plan import TrainingPlan


def benchmark_settings(**fields: Any) -> TrainerSettings:
    """TrainerSettings of the default RetrainConfig with `fields` in their place (validated)."""
    from retrain.pipelines.config import RetrainConfig
    from retrain.pipelines.trainer_settings import trainer_settings_for

    return trainer_settings_for(RetrainConfig()).updated(**fields)


def benchmark_plan(**fields: Any) -> TrainingPlan:
    """The TrainingPlan of `benchmark_settings(**fields)`, without label smoothing."""
    from retrain.components.training_core.plan import TrainingPlan

    return TrainingPlan.from_settings(benchmark_settings(**fields), label_smoothing=0.0)
