"""The validation subset (components/training_core/validation.py) as TensorFlow graph ops, for tf.data pipelines.

Same buckets, keys and weights as the core's NumPy rule, so both trainers carve the same subset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from retrain.components.hub_trainer.features import model_input
from retrain.components.training_core.validation import BUCKETS, empty_validation_error, numeric_weights, string_key


def validation_mask(inputs: tf.Tensor, fraction: float, seed: int) -> tf.Tensor:
    """[N] bool: which examples of a batch of model inputs belong to the validation subset.

    Strings are hashed with a keyed hash; numeric inputs by a seeded integer hash of
    their float32 bit patterns (exact on every device).
    """
    inputs = tf.convert_to_tensor(inputs)
    if inputs.dtype == tf.string:
        buckets = tf.strings.to_hash_bucket_strong(tf.reshape(inputs, [-1]), BUCKETS, key=list(string_key(seed)))
    else:
        flat = tf.reshape(tf.cast(inputs, tf.float32), [tf.shape(inputs)[0], -1])
        weights = numeric_weights(seed, int(np.prod(inputs.shape[1:])))
        bits = tf.cast(tf.bitcast(flat, tf.int32), tf.int64)
        buckets = tf.math.floormod(tf.reduce_sum(bits * weights, axis=1), BUCKETS)
    return tf.cast(buckets, tf.float64) < fraction * BUCKETS


def split_validation(batches: tf.data.Dataset, fraction: float, seed: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Splits batches of (features, labels) into (train, validation) batches by `validation_mask` (labels: a tensor or {task: tensor})."""

    def part(keep_validation: bool) -> tf.data.Dataset:
        def select(features: Any, labels: Any) -> tuple[Any, Any]:
            mask = validation_mask(model_input(features), fraction, seed)
            mask = mask if keep_validation else tf.logical_not(mask)
            return tuple(tf.nest.map_structure(lambda values: tf.boolean_mask(values, mask), part) for part in (features, labels))

        return batches.map(select).filter(lambda features, labels: tf.shape(model_input(features))[0] > 0)

    return part(False), part(True)


class RequireValidationSubset(tf.keras.callbacks.Callback):
    """Fails the first epoch in one line when the carved validation subset held no example (a streamed split is not counted up front)."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self._fraction = fraction

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if not any(name.startswith("val_") for name in logs or {}):
            raise empty_validation_error(self._fraction)
