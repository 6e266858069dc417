"""TFX Transform entry point: raw input -> backbone input, label string -> integer id."""
from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf
import tensorflow_transform as tft

from components.hub_trainer import features


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any]) -> dict[str, tf.Tensor]:
    """Builds the transform graph; `custom_config` carries the task and backbone settings."""
    raw = features.to_dense_vector(inputs[custom_config["input_feature"]])
    labels = tf.strings.strip(features.to_dense_vector(inputs[custom_config["label_feature"]]))
    return {
        features.MODEL_INPUT: features.model_input_from_raw(raw, custom_config),
        features.LABEL_ID: tft.compute_and_apply_vocabulary(labels, vocab_filename=features.LABEL_VOCABULARY),
    }
