"""The PyTorch trainer's loss per task: one head's cross-entropy, or several tasks' weighted sum (the TF trainer's rule).

Each task's loss is a cross-entropy with that task's label smoothing and class weights
(from its label map); the training loss is the sum of loss weight x task loss. A model
of one head is one task named "" whose loss is the training loss itself, so a single
task trains exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import nn

from retrain.components.training_core.divergence import DivergenceGuard
from retrain.components.training_core.plan import Phase, TrainingPlan, guard_for, task_guards_for


@dataclass(frozen=True)
class TaskLoss:
    """One task's name ("" for a one-head model), classes, loss weight and cross-entropy."""

    name: str
    num_classes: int
    loss_weight: float
    loss_fn: nn.CrossEntropyLoss


def task_losses(plan: TrainingPlan, num_classes: int, class_weights: Optional[Sequence[float]], device: torch.device) -> list[TaskLoss]:
    """The plan's tasks (several: `plan.tasks`), or the one head of `num_classes` with `class_weights` and the plan's smoothing."""

    def weights(values: Optional[Sequence[float]]) -> Optional[torch.Tensor]:
        return torch.tensor(list(values), dtype=torch.float32, device=device) if values is not None else None

    if not plan.multitask:
        return [TaskLoss("", num_classes, 1.0, nn.CrossEntropyLoss(weight=weights(class_weights), label_smoothing=plan.label_smoothing))]
    if class_weights is not None:
        raise ValueError("with several tasks each task's class weights are in plan.tasks, not class_weights")
    return [
        TaskLoss(
            task.name,
            task.num_classes,
            task.loss_weight,
            nn.CrossEntropyLoss(weight=weights(task.class_weights), label_smoothing=task.label_smoothing),
        )
        for task in plan.tasks
    ]


def task_logits(outputs: Any, tasks: Sequence[TaskLoss]) -> list[torch.Tensor]:
    """Each task's float32 logits from a model's outputs: one tensor (one head) or {task: logits}."""
    return [outputs.float()] if isinstance(outputs, torch.Tensor) else [outputs[task.name].float() for task in tasks]


def task_label_ids(labels: torch.Tensor, task_index: int) -> torch.Tensor:
    """Task `task_index`'s label ids: labels are [N] for one task, [N, tasks] for several."""
    return labels if labels.dim() == 1 else labels[:, task_index]


def weighted_loss(losses: Sequence[torch.Tensor], tasks: Sequence[TaskLoss]) -> torch.Tensor:
    """The training loss: the one task's, or the sum of loss weight x task loss."""
    if len(losses) == 1:
        return losses[0]
    return torch.stack([task.loss_weight * loss for task, loss in zip(tasks, losses, strict=True)]).sum()


def phase_guards(plan: TrainingPlan, phase: Phase, tasks: Sequence[TaskLoss]) -> list[Optional[DivergenceGuard]]:
    """Each task's divergence guard of one phase, in task order (None where the guard is off)."""
    if not plan.multitask:
        return [guard_for(plan, phase, tasks[0].num_classes)]
    guards = task_guards_for(plan, phase)
    return [guards.get(task.name) for task in tasks]


def check_labels(labels: torch.Tensor, tasks: Sequence[TaskLoss]) -> None:
    """Refuses label ids whose shape does not fit the tasks ([N] for one, [N, tasks] for several)."""
    expected = 1 if len(tasks) == 1 else 2
    if labels.dim() != expected or (expected == 2 and labels.shape[1] != len(tasks)):
        raise ValueError(
            f"label ids of shape {tuple(labels.shape)} do not fit {len(tasks)} task(s): expected [examples{', tasks' if expected == 2 else ''}]"
        )
