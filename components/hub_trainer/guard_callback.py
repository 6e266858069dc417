"""The divergence guard in Keras: a metric counting the classes predicted in an epoch, and the callback that checks it."""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from retrain.components.training_core.divergence import DivergenceGuard

PREDICTED_CLASSES = "predicted_classes"


class PredictedClassCount(tf.keras.metrics.Metric):
    """How many distinct classes the model predicted (argmax) over the batches seen since the last reset."""

    def __init__(self, num_classes: int, name: str = PREDICTED_CLASSES, **kwargs: object) -> None:
        super().__init__(name=name, **kwargs)
        self._num_classes = num_classes
        self._predicted = self.add_weight(name="predicted_per_class", shape=(num_classes,), initializer="zeros")

    def update_state(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: Optional[tf.Tensor] = None) -> None:
        predicted = tf.cast(tf.argmax(y_pred, axis=-1), tf.int32)
        self._predicted.assign_add(tf.math.bincount(predicted, minlength=self._num_classes, maxlength=self._num_classes, dtype=tf.float32))

    def result(self) -> tf.Tensor:
        return tf.reduce_sum(tf.cast(self._predicted > 0, tf.float32))

    def reset_state(self) -> None:
        self._predicted.assign(tf.zeros_like(self._predicted))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self._num_classes}


class DivergenceCallback(tf.keras.callbacks.Callback):
    """Checks every epoch's training loss and predicted classes with a `DivergenceGuard` (raises TrainingDiverged)."""

    def __init__(self, guard: DivergenceGuard) -> None:
        super().__init__()
        self._guard = guard

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        self._guard.check(float(logs["loss"]), int(round(float(logs[PREDICTED_CLASSES]))))
