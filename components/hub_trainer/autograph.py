"""Keeps AutoGraph from converting the Keras 2 library (`tf_keras`) that the trainer runs on.

AutoGraph rewrites Python control flow of user code called inside a `tf.function`.
TensorFlow's own rules skip its `keras` package (library code written for graph
mode), but not the same code under its legacy name `tf_keras`, so the first `fit`
of every Trainer process converted ~130 Keras functions (layer calls, losses,
metrics, optimizers): about 11 s on 2 cores, for identical results. This adds the
rule TensorFlow has for `keras` for `tf_keras` too; the project's own train step is
still converted.
"""

from __future__ import annotations

from retrain.components.compat.tf_private import skip_autograph_conversion

_TF_KERAS = "tf_keras"


def skip_tf_keras_conversion() -> None:
    """Adds AutoGraph's `DoNotConvert('tf_keras')` rule (once)."""
    skip_autograph_conversion(_TF_KERAS)
