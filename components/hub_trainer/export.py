"""Exports a trained classifier as a SavedModel with readable serving signatures.

Signatures:
- `serving_default`: serialized tf.Examples -> probabilities, predicted class, class names;
- `serving_raw`: the raw input (encoded image bytes or text strings) -> the same outputs;
- `transform_features`: serialized tf.Examples -> transformed features (used by TFMA).
All of them run the Transform graph, so serving preprocesses exactly like training.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.features import MODEL_INPUT

RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"


def _as_raw_feature(values: tf.Tensor, spec: tf.io.FixedLenFeature | tf.io.VarLenFeature) -> tf.Tensor | tf.SparseTensor:
    """Shapes a [N] tensor the way parsing a tf.Example with `spec` would."""
    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.reshape(values, [-1, *spec.shape])
    return tf.sparse.from_dense(tf.reshape(values, [-1, 1]))


def _readable_outputs(logits: tf.Tensor, class_names: tf.Tensor) -> dict[str, tf.Tensor]:
    probabilities = tf.nn.softmax(logits, axis=-1)
    batch = tf.shape(probabilities)[0]
    return {
        "probabilities": probabilities,
        "predicted_class": tf.gather(class_names, tf.argmax(probabilities, axis=-1)),
        "class_names": tf.tile(class_names[tf.newaxis, :], [batch, 1]),
    }


def export_serving_model(
    model: tf.keras.Model,
    tft_output: tft.TFTransformOutput,
    class_names: Sequence[str],
    settings: TrainerSettings,
    directory: str,
) -> None:
    """Saves `model` with the Transform graph and the three signatures into `directory`."""
    model.tft_layer = tft_output.transform_features_layer()
    model.class_names = tf.constant(list(class_names))
    raw_spec = tft_output.raw_feature_spec()
    label_feature, input_feature = settings.label_feature, settings.input_feature
    serving_spec = {name: spec for name, spec in raw_spec.items() if name != label_feature}

    def predict(transformed: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return _readable_outputs(model(transformed[MODEL_INPUT], training=False), model.class_names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(model.tft_layer(tf.io.parse_example(examples, serving_spec)))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=input_feature)])
    def serve_raw(values: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(model.tft_layer({input_feature: _as_raw_feature(values, raw_spec[input_feature])}))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return model.tft_layer(tf.io.parse_example(examples, raw_spec))

    # TFMA recomputes the saved model's compiled loss and metrics against the sparse
    # label ids of `transform_features`; training used one-hot (smoothed) labels.
    model.compile(
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    model.save(
        directory,
        save_format="tf",
        include_optimizer=False,
        signatures={
            "serving_default": serve_examples.get_concrete_function(),
            RAW_SIGNATURE: serve_raw.get_concrete_function(),
            TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
        },
    )
