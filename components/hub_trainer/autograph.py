"""Keeps AutoGraph from converting the graph-mode libraries the trainer runs on.

AutoGraph rewrites Python control flow of user code called inside a `tf.function`.
TensorFlow's own rules skip its `keras` package (library code written for graph
mode), but not the same code under its legacy name `tf_keras`, nor TF Hub's
`KerasLayer`, Transform's layer or TF Text. So the first `fit` of every Trainer
process converted ~130 Keras functions (layer calls, losses, metrics, optimizers):
about 11 s on 2 cores; and the frozen backbone's embedding pass and the export's
serving signatures converted Hub's and Transform's code: ~4.5 s at 5,000 images,
for identical graphs. This adds TensorFlow's `keras` rule for these packages; the
project's own functions are still converted.
"""

from __future__ import annotations

from retrain.components.compat.tf_private import skip_autograph_conversion

GRAPH_MODE_LIBRARIES = ("tf_keras", "tensorflow_hub", "tensorflow_transform", "tensorflow_text")


def skip_library_conversion() -> None:
    """Adds AutoGraph's `DoNotConvert` rule for each of GRAPH_MODE_LIBRARIES (once each)."""
    for library in GRAPH_MODE_LIBRARIES:
        skip_autograph_conversion(library)
