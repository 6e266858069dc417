"""Progress lines inside Keras epochs: rate and ETA while an epoch runs (Keras itself prints only at its end)."""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from retrain.components.training_core.progress import ProgressLine


class EpochProgress(tf.keras.callbacks.Callback):
    """`[retrain] epoch 3/10: 120/480 batches, 12.3 batches/s, ETA 29s` while an epoch takes longer than the interval.

    A dataset of unknown size has no step count in the first epoch (no ETA then);
    later epochs take the first one's.
    """

    def __init__(self) -> None:
        super().__init__()
        self._line: Optional[ProgressLine] = None
        self._steps_seen = 0

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        steps = self.params.get("steps") or self._steps_seen or None
        self._line = ProgressLine(f"epoch {epoch + 1}/{self.params.get('epochs')}", steps)

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        self._steps_seen = max(self._steps_seen, batch + 1)
        if self._line is not None:
            self._line.update(batch + 1)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self._line is not None:
            self._line.close()
