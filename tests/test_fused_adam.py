"""FusedAdam: tf_keras Adam's updates (dense and gather gradients) from one fused kernel per variable."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.hub_trainer.fused_adam import FusedAdam
from retrain.components.hub_trainer.model import compile_classifier


def _trained(optimizer: tf.keras.optimizers.Optimizer) -> list[np.ndarray]:
    """Four steps on an embedding table (gather gradient) and a dense kernel; the learning rate changes between steps."""
    rng = np.random.default_rng(0)
    table = tf.Variable(rng.normal(size=(50, 8)).astype(np.float32))
    kernel = tf.Variable(rng.normal(size=(8, 3)).astype(np.float32))
    ids = tf.constant([[1, 4, 4, 7], [0, 4, 9, 9]])
    targets = tf.constant(rng.normal(size=(2, 3)).astype(np.float32))

    @tf.function
    def step() -> None:
        with tf.GradientTape() as tape:
            pooled = tf.reduce_mean(tf.gather(table, ids), axis=1)
            loss = tf.reduce_sum(tf.square(pooled @ kernel - targets))
        optimizer.apply_gradients(zip(tape.gradient(loss, [table, kernel]), [table, kernel]))

    for rate in (1e-2, 1e-2, 5e-3, 1e-3):
        optimizer.learning_rate.assign(rate)
        step()
    return [table.numpy(), kernel.numpy()]


@pytest.mark.parametrize("options", [{}, {"amsgrad": True}])
def test_fused_adam_updates_like_tf_keras_adam(options: dict) -> None:
    fused, reference = _trained(FusedAdam(1e-2, **options)), _trained(tf.keras.optimizers.Adam(1e-2, **options))
    for mine, theirs in zip(fused, reference):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    assert not np.array_equal(fused[0], _trained(FusedAdam(1e-2, beta_1=0.5, **options))[0]), "the slots' settings reach the kernel"


def test_the_trainers_compile_uses_fused_adam() -> None:
    inputs = tf.keras.Input(shape=(4,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(inputs))
    compile_classifier(model, 1e-3)
    assert isinstance(model.optimizer, FusedAdam)
