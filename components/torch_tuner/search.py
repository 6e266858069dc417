"""The PyTorch side of the shared search: the strategy's trials trained with the PyTorch trainer's own code.

Same strategy (`build_strategy` from the settings' seed), budget (each proposal's epochs per
phase, no divergence guard, so a diverging trial scores low instead of stopping the search) and
scoring (`trial_score` on the validation subset; several tasks: their mean accuracy, `mean_over_tasks`) as the TF
tuner; only the training is PyTorch's. With several tasks a trial is the trainer's `MultiTaskClassifier`, each task's
head of its own searched depth.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import torch

from retrain.components.torch_trainer.accelerate import Accelerator
from retrain.components.torch_trainer.model import build_classifier
from retrain.components.torch_trainer.training import EpochRecord, train_classifier
from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.plan import TrainingPlan
from retrain.components.training_core.tasks import ClassesOfTask, TaskHead, task_heads
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.components.tuning.pruning import MedianPruner, TrialPruned, build_pruner
from retrain.components.tuning.space import TrialResult, TuningConfig, mean_over_tasks, trial_score
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
    label_maps: Optional[Mapping[str, ClassesOfTask]] = None,
) -> list[TrialResult]:
    """Trains each trial `tuning.strategy` proposes on `train` (in this process; `tuning.pruning` may stop it after an
    epoch), scores it on `validation` and reports the score back; results in trial order.

    With several tasks (`settings.task_labels`) the labels are [N, tasks], `label_maps` holds each task's classes
    and `class_weights` is unused (each task's are in its loss), as in the trainer.
    """
    base = settings.updated(divergence_guard=False)
    accelerator = Accelerator.detect(mixed_precision=settings.mixed_precision, cpu_mixed_precision=settings.cpu_mixed_precision)
    strategy = build_strategy(tuning, settings.mode, settings.seed, settings.task_labels)
    pruner = build_pruner(tuning.pruning, tuning.max_trials)
    if settings.multitask and label_maps is None:
        raise ValueError(f"a search over several tasks ({', '.join(settings.task_labels)}) needs each task's label map")
    results = []
    while (proposal := strategy.propose()) is not None:
        trial = apply_hyperparameters(base.updated(epochs=proposal.epochs, fine_tune_epochs=proposal.epochs), proposal.values)
        tasks = (
            task_heads(trial.task_labels, trial.loss_weights, label_maps, trial.task_hidden_units)
            if label_maps is not None and trial.multitask
            else ()
        )
        plan = TrainingPlan.from_settings(trial, label_smoothing, tasks)
        model = build_classifier(trial, num_classes, example=train[0][:1], tasks=tasks)
        epochs = _TrialEpochs(pruner)
        pruner.begin_trial()
        pruned = False
        try:
            train_classifier(
                model,
                train,
                plan,
                validation=validation,
                class_weights=None if tasks else class_weights,
                backbone_train_mode=trial.backbone_train_mode,
                accelerator=accelerator,
                on_epoch_end=epochs.record,
            )
            pruner.end_trial(pruned=False)
        except TrialPruned:
            pruned = True
            pruner.end_trial(pruned=True)
        score = trial_score(_last_phase_accuracies(epochs.records, tasks), plan.early_stopping_patience > 0)
        result = TrialResult(proposal.index, dict(proposal.values), score, len(epochs.records), pruned)
        strategy.report(proposal, result.score)
        results.append(result)
        if on_trial is not None:
            on_trial(result)
    return results


def _last_phase_accuracies(history: Sequence[EpochRecord], tasks: Sequence[TaskHead]) -> list[float]:
    """The last phase's validation accuracy per epoch; with several tasks each epoch's mean of the tasks' (`mean_over_tasks`)."""
    last_phase = [record for record in history if record.phase == history[-1].phase and record.val_accuracy is not None]
    if not tasks:
        return [float(record.val_accuracy or 0.0) for record in last_phase]
    return mean_over_tasks({task.name: [float((record.val_task_accuracy or {})[task.name]) for record in last_phase] for task in tasks})
