"""The divergence guard in Keras: a metric counting the classes predicted in an epoch, and the callback that checks it."""

from __future__ import annotations

from typing import Optional, Sequence

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

    def __init__(self, guard: DivergenceGuard, output: str = "") -> None:
        """`output`: the model output watched (its logged loss and predicted classes are `<output>_loss`, ...); "" for a one-output model."""
        super().__init__()
        self._guard = guard
        self._prefix = f"{output}_" if output else ""

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        self._guard.check(float(logs[f"{self._prefix}loss"]), int(round(float(logs[f"{self._prefix}{PREDICTED_CLASSES}"]))))


class MeanTaskAccuracy(tf.keras.callbacks.Callback):
    """Logs `accuracy` (and `val_accuracy`) of a multi-task model as the mean of its outputs', for the callbacks after it (early stopping)."""

    def __init__(self, outputs: Sequence[str]) -> None:
        super().__init__()
        self._outputs = list(outputs)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if logs is None:
            return
        for prefix in ("", "val_"):
            keys = [f"{prefix}{output}_accuracy" for output in self._outputs]
            if all(key in logs for key in keys):
                logs[f"{prefix}accuracy"] = sum(float(logs[key]) for key in keys) / len(keys)
