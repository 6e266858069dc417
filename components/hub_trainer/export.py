"""Exports a trained classifier as a SavedModel with readable serving signatures.

Signatures:
- `serving_default`: serialized tf.Examples -> probabilities, predicted class, class names (with several
  tasks: also `probabilities__<task>`, `predicted_class__<task>`, `class_names__<task>` for each task, the
  main task's also under the single-task names);
- `serving_raw`: the raw input (encoded image bytes or text strings) -> the same outputs;
- `transform_features`: serialized tf.Examples -> transformed features (used by TFMA);
- with several tasks, `task_probabilities`: serialized tf.Examples -> {task: probabilities} (TFMA's
  output names are the tasks: the per-task gate reads it).
All of them run the Transform graph, so serving preprocesses exactly like training.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from retrain.components.hub_trainer.autograph import skip_library_conversion
from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.features import MODEL_INPUT
from retrain.components.training_core.tasks import task_feature

RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"
TASKS_SIGNATURE = "task_probabilities"  # several tasks: {task: probabilities}, the outputs TFMA gates by output name


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


def _task_outputs(logits: Mapping[str, tf.Tensor], class_names: Mapping[str, tf.Tensor], main_task: str) -> dict[str, tf.Tensor]:
    """Every task's readable outputs under `<output>__<task>`, the main task's also under the single-task names."""
    outputs = {}
    for task, task_logits in logits.items():
        readable = _readable_outputs(task_logits, class_names[task])
        outputs.update({task_feature(name, task): values for name, values in readable.items()})
        if task == main_task:
            outputs.update(readable)
    return outputs


def export_serving_model(
    model: tf.keras.Model,
    tft_output: tft.TFTransformOutput,
    class_names: Sequence[str] | Mapping[str, Sequence[str]],
    settings: TrainerSettings,
    directory: str,
) -> None:
    """Saves `model` with the Transform graph and the three signatures into `directory`.

    `class_names`: the classes in id order; with several tasks (the model outputs {task: logits}), {task: classes}.
    """
    skip_library_conversion()
    model.tft_layer = tft_output.transform_features_layer()
    several = isinstance(class_names, Mapping)
    task_class_names = {task: tf.constant(list(names)) for task, names in class_names.items()} if isinstance(class_names, Mapping) else {}
    if not several:
        model.class_names = tf.constant(list(class_names))
    raw_spec = tft_output.raw_feature_spec()
    input_feature = settings.input_feature
    serving_spec = {name: spec for name, spec in raw_spec.items() if name not in settings.task_labels}

    def predict(transformed: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if several:
            return _task_outputs(model(transformed[MODEL_INPUT], training=False), task_class_names, settings.label_feature)
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

    signatures = {
        "serving_default": serve_examples.get_concrete_function(),
        RAW_SIGNATURE: serve_raw.get_concrete_function(),
        TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }
    if several:

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def task_probabilities(examples: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = model(model.tft_layer(tf.io.parse_example(examples, serving_spec))[MODEL_INPUT], training=False)
            return {task: tf.nn.softmax(task_logits, axis=-1) for task, task_logits in logits.items()}

        signatures[TASKS_SIGNATURE] = task_probabilities.get_concrete_function()
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
        signatures=signatures,
    )
