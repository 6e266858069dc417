"""Where training runs: a distribution strategy for the visible GPUs, and the precision policy."""

from __future__ import annotations

import tensorflow as tf

MIXED_POLICY = "mixed_bfloat16"


def visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow can see."""
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def strategy_for(gpus: list[str]) -> tf.distribute.Strategy:
    """MirroredStrategy over the GPUs when there are several, else the default (single-device) strategy."""
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(devices=gpus)
    return tf.distribute.get_strategy()


def precision_policy(mixed_precision: bool, gpus: list[str]) -> str:
    """`mixed_bfloat16` when asked for and a GPU is visible, else `float32`.

    bfloat16 keeps float32's range, so no loss scaling is needed with the trainer's
    per-group optimizers. The classifier's logits stay float32 (see `model.py`).
    """
    return MIXED_POLICY if mixed_precision and gpus else "float32"
