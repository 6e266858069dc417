"""The Evaluator's batches are not formatted whole into TensorFlow's discarded binding errors (evaluator_progress/executor.py)."""

from __future__ import annotations

import retrain.components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf

from retrain.components.evaluator_progress.executor import summarised_array_printing


def test_a_batch_of_encoded_images_reprs_in_a_few_elements_inside_and_whole_outside() -> None:
    batch = tf.constant([bytes([index % 256]) * 30_000 for index in range(64)])  # 64 "images" of 30 KB
    whole = repr(batch)
    with summarised_array_printing():
        summarised = repr(batch)
    assert len(whole) > 64 * 30_000, "TensorFlow's repr of a tensor formats every element by default"
    assert len(summarised) < 5 * 4 * 30_000, "four elements and the ellipsis at most"
    assert "..." in summarised
    assert repr(batch) == whole, "the print options are restored afterwards"
