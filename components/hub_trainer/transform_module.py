"""TFX Transform entry point: raw input -> backbone input, label -> stable id from the label map.

Records that cannot be used for training (blank label, label outside the map, no
input value) get label id -1; LabelPrep has counted them, and the trainers skip them.
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from retrain.components.hub_trainer import features
from retrain.components.trainer_settings import transform_settings_from
from retrain.components.training_core.features import LABEL_ID, MODEL_INPUT, UNKNOWN_LABEL_ID


def label_ids(labels: tf.Tensor, vocabulary: list[str]) -> tf.Tensor:
    """Maps label strings (or integers) to their label-map ids; blank or unknown labels get -1."""
    if labels.dtype != tf.string:
        labels = tf.strings.as_string(labels)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(vocabulary, tf.string), tf.range(len(vocabulary), dtype=tf.int64)),
        default_value=UNKNOWN_LABEL_ID,
    )
    return table.lookup(tf.strings.strip(labels))


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any]) -> dict[str, tf.Tensor]:
    """Builds the transform graph; `custom_config` carries the input settings and the label vocabulary."""
    settings, vocabulary = transform_settings_from(custom_config)
    raw = features.to_dense_vector(inputs[settings.input_feature])
    labels = features.to_dense_vector(inputs[settings.label_feature])
    ids = label_ids(labels, vocabulary)
    return {
        MODEL_INPUT: features.model_input_from_raw(raw, settings),
        # Records without an input value are counted by LabelPrep and left out of training.
        LABEL_ID: tf.where(features.has_value(raw), ids, tf.constant(UNKNOWN_LABEL_ID, tf.int64)),
    }
