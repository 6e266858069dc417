"""The PyTorch side of the shared search: the strategy's trials trained with the PyTorch trainer's own code.

Same strategy (`build_strategy` from the settings' seed), budget (each proposal's epochs per
phase, no divergence guard, so a diverging trial scores low instead of stopping the search) and
scoring (`trial_score` on the validation subset) as the TF tuner; only the training is PyTorch's.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch

from retrain.components.torch_trainer.accelerate import Accelerator
from retrain.components.torch_trainer.model import build_classifier
from retrain.components.torch_trainer.training import EpochRecord, train_classifier
from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.plan import TrainingPlan
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.components.tuning.pruning import MedianPruner, TrialPruned, build_pruner
from retrain.components.tuning.space import TrialResult, TuningConfig, trial_score
from retrain.components.tuning.strategy import build_strategy


class _TrialEpochs:
    """The running trial's epoch records, each also shown to the pruner (which may stop the trial)."""

    def __init__(self, pruner: MedianPruner) -> None:
        self.records: list[EpochRecord] = []
        self._pruner = pruner

    def record(self, record: EpochRecord) -> None:
        self.records.append(record)
        self._pruner.epoch_end(float(record.val_accuracy))


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
    """Trains each trial `tuning.strategy` proposes on `train` (in this process; `tuning.pruning` may stop it after an
    epoch), scores it on `validation` and reports the score back; results in trial order."""
    base = settings.updated(divergence_guard=False)
    accelerator = Accelerator.detect(mixed_precision=settings.mixed_precision)
    strategy = build_strategy(tuning, settings.mode, settings.seed)
    pruner = build_pruner(tuning.pruning, tuning.max_trials)
    results = []
    while (proposal := strategy.propose()) is not None:
        trial = apply_hyperparameters(base.updated(epochs=proposal.epochs, fine_tune_epochs=proposal.epochs), proposal.values)
        plan = TrainingPlan.from_settings(trial, label_smoothing)
        model = build_classifier(trial, num_classes, example=train[0][:1])
        epochs = _TrialEpochs(pruner)
        pruner.begin_trial()
        pruned = False
        try:
            train_classifier(
                model,
                train,
                plan,
                validation=validation,
                class_weights=class_weights,
                backbone_train_mode=trial.backbone_train_mode,
                accelerator=accelerator,
                on_epoch_end=epochs.record,
            )
            pruner.end_trial(pruned=False)
        except TrialPruned:
            pruned = True
            pruner.end_trial(pruned=True)
        history = epochs.records
        last_phase = [float(record.val_accuracy) for record in history if record.phase == history[-1].phase and record.val_accuracy is not None]
        result = TrialResult(proposal.index, dict(proposal.values), trial_score(last_phase, plan.early_stopping_patience > 0), len(history), pruned)
        strategy.report(proposal, result.score)
        results.append(result)
        if on_trial is not None:
            on_trial(result)
    return results
