"""Training modes as phases: which blocks train, at which learning rates, for how many epochs.

- `feature_extraction`: the head only; the backbone is frozen.
- `fine_tune`: the head and every backbone block, the backbone at
  `learning_rate * backbone_learning_rate_scale` (discriminative learning rates).
- `incremental`: phase 1 trains the head (backbone frozen) for `epochs`; phase 2
  unfreezes the top `unfreeze_blocks` blocks for `fine_tune_epochs`, each block
  `layer_decay` times slower than the one above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from retrain.components.trainer_settings import AugmentationConfig, TrainerSettings
from retrain.components.training_core.divergence import DivergenceGuard
from retrain.components.training_core.tasks import TaskHead

MODES = ("feature_extraction", "fine_tune", "incremental")
ALL_BLOCKS = -1


@dataclass(frozen=True)
class Augmentation:
    """Per-image random crop (up to `crop_fraction` of each side, resized back), left-right flip, brightness shift."""

    crop_fraction: float = 0.0
    horizontal_flip: bool = False
    brightness: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.crop_fraction > 0 or self.horizontal_flip or self.brightness > 0

    @classmethod
    def from_settings(cls, settings: AugmentationConfig) -> "Augmentation":
        """From the trainer settings' `augmentation`."""
        return cls(crop_fraction=settings.crop_fraction, horizontal_flip=settings.horizontal_flip, brightness=settings.brightness)


@dataclass(frozen=True)
class TrainingPlan:
    """Hyperparameters of a training run: the trainer settings' (every field required, no defaults of its own)."""

    mode: str
    epochs: int
    batch_size: int
    learning_rate: float
    backbone_learning_rate_scale: float
    unfreeze_blocks: int
    layer_decay: float
    fine_tune_epochs: int
    label_smoothing: float
    block_pattern: str
    seed: int
    validation_fraction: float
    early_stopping_patience: int
    lr_schedule: str
    warmup_epochs: float
    augmentation: Augmentation
    divergence_guard: bool
    cpu_mixed_precision: bool
    tasks: tuple[TaskHead, ...] = ()  # several tasks on one backbone: each head's classes, loss weight, smoothing, class weights

    @classmethod
    def from_settings(cls, settings: TrainerSettings, label_smoothing: float, tasks: Sequence[TaskHead] = ()) -> "TrainingPlan":
        """The plan described by the trainer settings, with the label map's smoothing (and, with several tasks, their heads)."""
        derived = ("augmentation", "label_smoothing", "tasks")
        same_names = {name: getattr(settings, name) for name in cls.__dataclass_fields__ if name not in derived}
        return cls(**same_names, augmentation=Augmentation.from_settings(settings.augmentation), label_smoothing=label_smoothing, tasks=tuple(tasks))

    @property
    def multitask(self) -> bool:
        """True when several heads train on one backbone (`tasks`); a single task trains as before."""
        return len(self.tasks) > 1

    @property
    def uses_cached_embeddings(self) -> bool:
        """feature_extraction without augmentation trains the head on embeddings computed once."""
        return self.mode == "feature_extraction" and not self.augmentation.enabled


@dataclass(frozen=True)
class Phase:
    """One stretch of training: what is unfrozen, how fast, for how long."""

    name: str
    epochs: int
    unfreeze_blocks: int
    backbone_learning_rate_scale: float = 1.0
    layer_decay: float = 1.0


def phases(plan: TrainingPlan) -> list[Phase]:
    """The phases of `plan.mode`."""
    if plan.mode == "feature_extraction":
        return [Phase("head", plan.epochs, unfreeze_blocks=0)]
    if plan.mode == "fine_tune":
        return [Phase("fine_tune", plan.epochs, ALL_BLOCKS, plan.backbone_learning_rate_scale)]
    if plan.mode == "incremental":
        return [
            Phase("head", plan.epochs, unfreeze_blocks=0),
            Phase("top_blocks", plan.fine_tune_epochs, plan.unfreeze_blocks, plan.backbone_learning_rate_scale, plan.layer_decay),
        ]
    raise ValueError(f"unknown training mode {plan.mode!r}; expected one of {', '.join(MODES)}")


def guard_for(plan: TrainingPlan, phase: Phase, num_classes: int) -> Optional[DivergenceGuard]:
    """The divergence guard of one phase (None when `plan.divergence_guard` is off)."""
    if not plan.divergence_guard:
        return None
    backbone_rate = plan.learning_rate * phase.backbone_learning_rate_scale if phase.unfreeze_blocks else None
    return DivergenceGuard(phase.name, num_classes, plan.learning_rate, backbone_rate)


def task_guards_for(plan: TrainingPlan, phase: Phase) -> dict[str, DivergenceGuard]:
    """One divergence guard per task of a multi-task phase, each watching its task's loss and predictions (none when off)."""
    if not plan.divergence_guard:
        return {}
    backbone_rate = plan.learning_rate * phase.backbone_learning_rate_scale if phase.unfreeze_blocks else None
    return {task.name: DivergenceGuard(f"{phase.name}, task {task.name}", task.num_classes, plan.learning_rate, backbone_rate) for task in plan.tasks}
