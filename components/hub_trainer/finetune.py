"""A Keras model that trains only the chosen variable groups, each with its own optimizer and learning rate.

A Hub module is one `hub.KerasLayer`, so partial unfreezing works on its variables,
grouped into blocks by depth and into training groups by the neutral core
(components/training_core/blocks.py, groups.py). Variables in no group receive no update at all.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import tensorflow as tf

from retrain.components.hub_trainer.fused_adam import FusedAdam
from retrain.components.training_core.groups import VariableGroup


class GroupedTrainingModel(tf.keras.Model):
    """A functional Keras model whose training step updates only the given groups, each with its own optimizer.

    Until `set_training_groups` is called it trains like any Keras model. An
    augmentation set with `set_augmentation` transforms the inputs of training
    steps only (never `evaluate`, `predict` or the exported model).
    """

    _groups: Optional[list[tuple[VariableGroup, tf.keras.optimizers.Optimizer]]] = None
    _augment: Optional[Callable[[Any, tf.Tensor], Any]] = None
    _augmentation_seed: int = 0

    def set_training_groups(self, groups: Sequence[VariableGroup], optimizer_factory: type = FusedAdam) -> None:
        """Chooses what trains from now on (call `compile` afterwards to retrace the training step)."""
        pairs = [(group, optimizer_factory(group.learning_rate)) for group in groups if group.variables]
        # Plain attribute, not Keras-tracked: these optimizers are not part of the exported model.
        object.__setattr__(self, "_groups", pairs)

    def group_optimizers(self) -> list[tuple[str, tf.keras.optimizers.Optimizer, float, tuple[tf.Variable, ...]]]:
        """(group name, optimizer, peak learning rate, variables) of every training group."""
        return [(group.name, optimizer, group.learning_rate, group.variables) for group, optimizer in self._groups or []]

    def set_augmentation(self, augment: Optional[Callable[[Any, tf.Tensor], Any]], seed: int) -> None:
        """`augment(inputs, seed)` runs on the inputs of every training step, seeded by (seed, step)."""
        object.__setattr__(self, "_augment", augment)
        object.__setattr__(self, "_augmentation_seed", seed)

    def train_step(self, data: tuple) -> dict[str, tf.Tensor]:
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        if self._augment is not None:
            x = self._augment(x, tf.stack([tf.constant(self._augmentation_seed, tf.int64), self._train_counter]))
        if self._groups is None:
            return super().train_step((x, y, sample_weight))
        variables = [variable for group, _ in self._groups for variable in group.variables]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        gradients = tape.gradient(loss, variables)
        start = 0
        for group, optimizer in self._groups:
            end = start + len(group.variables)
            optimizer.apply_gradients(zip(gradients[start:end], group.variables))
            start = end
        return self.compute_metrics(x, y, y_pred, sample_weight)
