"""Training modes as phases: which variables train, at which learning rates, for how many epochs.

- `feature_extraction`: the head only; the backbone is frozen.
- `fine_tune`: the head and every backbone block, the backbone at
  `learning_rate * backbone_learning_rate_scale` (discriminative learning rates).
- `incremental`: phase 1 trains the head (backbone frozen) for `epochs`; phase 2
  unfreezes the top `unfreeze_blocks` blocks for `fine_tune_epochs`, each block
  `layer_decay` times slower than the one above it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import tensorflow as tf

from components.hub_trainer.blocks import DEFAULT_BLOCK_PATTERN, backbone_blocks
from components.hub_trainer.finetune import GroupedTrainingModel, training_groups
from components.hub_trainer.model import BACKBONE_LAYER, compile_classifier

MODES = ("feature_extraction", "fine_tune", "incremental")
ALL_BLOCKS = -1


@dataclass(frozen=True)
class TrainingPlan:
    """Hyperparameters of a training run, as the trainer's `custom_config` carries them."""

    mode: str = "feature_extraction"
    epochs: int = 10
    learning_rate: float = 1e-3
    backbone_learning_rate_scale: float = 0.1
    unfreeze_blocks: int = 1
    layer_decay: float = 0.5
    fine_tune_epochs: int = 10
    label_smoothing: float = 0.0
    block_pattern: str = DEFAULT_BLOCK_PATTERN

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], label_smoothing: float) -> "TrainingPlan":
        """The plan described by the trainer settings, with the label map's smoothing."""
        fields = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        return cls(**{**fields, "label_smoothing": label_smoothing})


@dataclass(frozen=True)
class Phase:
    """One `fit` call: what is unfrozen, how fast, for how long."""

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


def train_classifier(
    model: GroupedTrainingModel,
    train: Any,
    plan: TrainingPlan,
    validation: Optional[Any] = None,
    class_weight: Optional[dict[int, float]] = None,
    callbacks: Sequence[tf.keras.callbacks.Callback] = (),
    batch_size: Optional[int] = None,
    verbose: int = 2,
) -> list[tf.keras.callbacks.History]:
    """Runs every phase of `plan` on `train` (a dataset, or (x, one-hot y) arrays); returns their histories."""
    backbone = model.get_layer(BACKBONE_LAYER)
    backbone_refs = {variable.ref() for variable in backbone.weights}
    head = [variable for variable in model.trainable_weights if variable.ref() not in backbone_refs]
    blocks = backbone_blocks(backbone.trainable_weights, plan.block_pattern)
    x, y = train if isinstance(train, tuple) else (train, None)
    histories, epoch = [], 0
    for phase in phases(plan):
        if phase.unfreeze_blocks and not blocks:
            raise ValueError(f"mode {plan.mode!r} needs a trainable backbone, but it exposes no trainable variables")
        model.set_training_groups(
            training_groups(head, blocks, plan.learning_rate, phase.backbone_learning_rate_scale, phase.unfreeze_blocks, phase.layer_decay)
        )
        compile_classifier(model, plan.learning_rate, plan.label_smoothing)
        if verbose:
            print(f"[retrain] training phase '{phase.name}': {phase.epochs} epochs", flush=True)
        histories.append(
            model.fit(
                x,
                y,
                batch_size=batch_size,
                validation_data=validation,
                epochs=epoch + phase.epochs,
                initial_epoch=epoch,
                class_weight=class_weight,
                callbacks=list(callbacks),
                verbose=verbose,
            )
        )
        epoch += phase.epochs
    return histories
