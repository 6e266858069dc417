"""Per-epoch Keras checkpoints so a trainer killed mid-run continues where it stopped.

The directory comes from `retrain.components.training_core.checkpoints` (keyed by a fingerprint
of the run); `ckpt-N` holds the state after N global epochs.
"""

from __future__ import annotations

import re
from typing import Optional

import tensorflow as tf

_CHECKPOINT_NUMBER = re.compile(r"ckpt-(\d+)$")


def completed_epochs(directory: Optional[str]) -> int:
    """Global epochs completed by the latest checkpoint in `directory` (0 without one)."""
    latest = tf.train.latest_checkpoint(directory) if directory and tf.io.gfile.exists(directory) else None
    match = _CHECKPOINT_NUMBER.search(latest or "")
    return int(match.group(1)) if match else 0


def restore(checkpoint: tf.train.Checkpoint, directory: str) -> None:
    """Restores the latest checkpoint in `directory` into `checkpoint`; parts it lacks keep their values."""
    checkpoint.restore(tf.train.latest_checkpoint(directory)).expect_partial()


def remove_checkpoints(directory: Optional[str]) -> None:
    """Deletes a finished run's checkpoints."""
    if directory and tf.io.gfile.exists(directory):
        tf.io.gfile.rmtree(directory)


class EpochCheckpoint(tf.keras.callbacks.Callback):
    """Saves `checkpoint` after every epoch, and at the end of the phase (after any best-weights restore).

    Put it last among the callbacks so that the end-of-phase save sees the final weights.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, phase_end: int) -> None:
        super().__init__()
        self._manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1)
        self._phase_end = phase_end

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._manager.save(checkpoint_number=epoch + 1)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._manager.save(checkpoint_number=self._phase_end)
