"""TFX Transform entry point: raw input -> backbone input, label -> stable id from the label map.

Records that cannot be used for training (blank label, label outside the map, no
input value) get label id -1; LabelPrep has counted them, and the trainers skip them.
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

from retrain.components.hub_trainer import features
from retrain.components.trainer_settings import task_vocabularies_from, transform_settings_from
from retrain.components.training_core.features import LABEL_ID, MODEL_INPUT, UNKNOWN_LABEL_ID
from retrain.components.training_core.tasks import task_label_id


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
    """Builds the transform graph; `custom_config` carries the input settings and the label vocabulary (of each task).

    With several tasks each one's ids are `label_id__<task>`, the main task's also `label_id`.
    """
    settings, _ = transform_settings_from(custom_config)
    raw = features.to_dense_vector(inputs[settings.input_feature])
    has_input = features.has_value(raw)

    def ids_of(task: str, vocabulary: list[str]) -> tf.Tensor:
        ids = label_ids(features.to_dense_vector(inputs[task]), vocabulary)
        # Records without an input value are counted by LabelPrep and left out of training.
        return tf.where(has_input, ids, tf.constant(UNKNOWN_LABEL_ID, tf.int64))

    vocabularies = task_vocabularies_from(custom_config, settings)
    outputs = {
        MODEL_INPUT: features.model_input_from_raw(raw, settings),
        LABEL_ID: ids_of(settings.label_feature, vocabularies[settings.label_feature]),
    }
    if settings.multitask:
        outputs.update({task_label_id(task): ids_of(task, vocabulary) for task, vocabulary in vocabularies.items()})
    return outputs
