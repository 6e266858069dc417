"""Several tasks on one backbone: the task names, the transformed label feature of each, and what a head needs to know.

A task is named by its label column. The first task is the main one: Transform also
writes its ids as `label_id` and the exported model its outputs under the single-task
names, so everything that reads one task keeps reading it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional, Protocol, Sequence

from retrain.components.training_core.features import LABEL_ID

TASK_SEPARATOR = "__"
_TASK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def task_feature(name: str, task: str) -> str:
    """The per-task variant of a feature or output name: `label_id__brand`, `probabilities__brand`."""
    return f"{name}{TASK_SEPARATOR}{task}"


def task_label_id(task: str) -> str:
    """The transformed feature holding `task`'s label ids."""
    return task_feature(LABEL_ID, task)


def check_task_labels(labels: Sequence[str], input_feature: str) -> None:
    """Task label columns are distinct names usable in feature and output names, none of them the input; ValueError names the first problem."""
    if not labels:
        raise ValueError("list at least one label column")
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise ValueError(f"{label!r} is listed twice")
        seen.add(label)
        if label == input_feature:
            raise ValueError(f"{label!r} is the input feature, not a label")
        if len(labels) > 1 and (not _TASK_NAME.match(label) or TASK_SEPARATOR in label):
            raise ValueError(f"{label!r} cannot name a task: use a letter, then letters, digits or single '_' (it names the task's outputs)")


@dataclass(frozen=True)
class TaskHead:
    """One task's head and loss: its classes, loss weight, label smoothing and class weights (from its label map), and
    its own dense layers (`hidden_units`; None: the model's shared `hidden_units`)."""

    name: str
    num_classes: int
    loss_weight: float
    label_smoothing: float
    class_weights: tuple[float, ...]
    hidden_units: Optional[tuple[int, ...]] = None

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"task {self.name!r} has {self.num_classes} class(es): a classifier needs at least 2")
        if len(self.class_weights) != self.num_classes:
            raise ValueError(f"task {self.name!r}: {len(self.class_weights)} class weights for {self.num_classes} classes")
        if self.loss_weight <= 0:
            raise ValueError(f"task {self.name!r}: loss weight must be positive, got {self.loss_weight}")

    def dense_layers(self, shared: Sequence[int]) -> tuple[int, ...]:
        """The units of this head's dense layers: its own, else the model's `shared` ones."""
        return tuple(shared) if self.hidden_units is None else self.hidden_units


class ClassesOfTask(Protocol):
    """What a task's head takes from its label map (components/label_prep/label_map.py's LabelMap)."""

    labels: list[str]
    label_smoothing: float
    class_weights: list[float]


def task_heads(
    task_labels: Sequence[str],
    loss_weights: Sequence[float],
    label_maps: Mapping[str, ClassesOfTask],
    hidden_units: Sequence[Sequence[int]] = (),
) -> tuple[TaskHead, ...]:
    """Each task's head, in `task_labels` order, from its label map and loss weight; with `hidden_units` (one per task,
    the settings' `task_hidden_units`) each head's own dense layers, else the model's shared ones."""
    layers: Sequence[Optional[tuple[int, ...]]] = [tuple(units) for units in hidden_units] if hidden_units else [None] * len(task_labels)
    return tuple(
        TaskHead(task, len(label_maps[task].labels), weight, label_maps[task].label_smoothing, tuple(label_maps[task].class_weights), units)
        for task, weight, units in zip(task_labels, loss_weights, layers, strict=True)
    )
