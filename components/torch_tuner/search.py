"""The PyTorch side of the shared search: the sampled trials trained with the PyTorch trainer's own code.

Same trials (`sample_trials` from the settings' seed), budget (`trial_epochs` per phase,
no divergence guard, so a diverging trial scores low instead of stopping the search) and
scoring (`trial_score` on the validation subset) as the TF tuner; only the training is PyTorch's.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch

from components.hub_trainer.training import TrainingPlan
from components.torch_trainer.accelerate import Accelerator
from components.torch_trainer.model import build_classifier
from components.torch_trainer.training import train_classifier
from components.trainer_settings import TrainerSettings
from components.tuning.hyperparameters import apply_hyperparameters
from components.tuning.space import TrialResult, TuningConfig, sample_trials, search_space, trial_score


def run_trials(
    settings: TrainerSettings,
    tuning: TuningConfig,
    train: tuple[Any, torch.Tensor],
    validation: tuple[Any, torch.Tensor],
    num_classes: int,
    class_weights: Optional[Sequence[float]],
    label_smoothing: float,
    on_trial: Optional[Callable[[TrialResult], None]] = None,
) -> list[TrialResult]:
    """Trains each sampled trial on `train` (in this process) and scores it on `validation`; results in trial order."""
    base = settings.updated(epochs=tuning.trial_epochs, fine_tune_epochs=tuning.trial_epochs, divergence_guard=False)
    accelerator = Accelerator.detect(mixed_precision=settings.mixed_precision)
    results = []
    for index, values in enumerate(sample_trials(search_space(tuning, settings.mode), settings.seed, tuning.max_trials)):
        trial = apply_hyperparameters(base, values)
        plan = TrainingPlan.from_settings(trial, label_smoothing)
        model = build_classifier(trial, num_classes, example=train[0][:1])
        history = train_classifier(
            model, train, plan, validation=validation, class_weights=class_weights, backbone_train_mode=trial.backbone_train_mode, accelerator=accelerator
        )
        last_phase = [float(record.val_accuracy) for record in history if record.phase == history[-1].phase and record.val_accuracy is not None]
        result = TrialResult(index, dict(values), trial_score(last_phase, plan.early_stopping_patience > 0))
        results.append(result)
        if on_trial is not None:
            on_trial(result)
    return results
