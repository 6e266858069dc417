"""Learning-rate warmup and cosine decay (components/training_core/schedule.py) as a Keras callback, per optimizer group."""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

from retrain.components.training_core.schedule import learning_rate_factor


class LearningRateSchedule(tf.keras.callbacks.Callback):
    """Sets each optimizer's learning rate before every batch of one phase.

    `optimizers` returns (optimizer, peak rate) pairs; `first_epoch` is the phase's
    first global epoch, so a resumed phase continues the schedule where it stopped.
    With `steps_per_execution` > 1 the rate changes every that-many steps.
    """

    def __init__(
        self,
        optimizers: Callable[[], Sequence[tuple[tf.keras.optimizers.Optimizer, float]]],
        first_epoch: int,
        epochs: int,
        warmup_epochs: float,
        schedule: str,
    ) -> None:
        super().__init__()
        self._optimizers, self._first_epoch, self._epochs = optimizers, first_epoch, epochs
        self._warmup_epochs, self._schedule = warmup_epochs, schedule
        self._epoch, self._steps_seen = 0, 0
        self._steps_per_epoch: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch - self._first_epoch
        self._steps_per_epoch = self.params.get("steps") or self._steps_per_epoch
        self._steps_seen = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        steps = self._steps_per_epoch
        position, step = (self._epoch + batch / steps, 1.0 / steps) if steps else (float(self._epoch), 1.0)
        factor = learning_rate_factor(position, step, self._epochs, self._warmup_epochs, self._schedule)
        for optimizer, peak in self._optimizers():
            optimizer.learning_rate.assign(peak * factor)
        self._steps_seen = batch + 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._steps_per_epoch = self._steps_per_epoch or self._steps_seen
