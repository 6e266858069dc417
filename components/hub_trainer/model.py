"""Builds the transfer model: a TF Hub backbone plus a new classification head (or one head per task)."""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf
import tensorflow_hub as hub

from retrain.components.hub_trainer.finetune import GroupedTrainingModel
from retrain.components.hub_trainer.fused_adam import FusedAdam
from retrain.components.hub_trainer.guard_callback import PredictedClassCount
from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.features import MODEL_INPUT
from retrain.components.training_core.tasks import TaskHead, task_feature

BACKBONE_LAYER = "backbone"
LOGITS_LAYER = "logits"


def input_signature(task_type: str, image_size: Sequence[int], channels: int) -> tuple[tuple[int, ...], tf.DType]:
    """Per-example shape and dtype of the backbone input for a task."""
    if task_type == "image_classification":
        return (int(image_size[0]), int(image_size[1]), int(channels)), tf.float32
    return (), tf.string


def head_dense(units: int, fan_in: int, name: str, activation: str | None = None, dtype: str | None = None) -> tf.keras.layers.Dense:
    """A head layer initialised as PyTorch's `nn.Linear` is (kernel and bias uniform in ±1/√fan_in).

    Both trainers start their heads from the same distribution, so the TF and PyTorch trainers
    agree on the same data (Keras' default Glorot kernel and zero bias cost about a point of
    accuracy against PyTorch on the image example's embeddings).
    """
    limit = 1.0 / float(fan_in) ** 0.5
    return tf.keras.layers.Dense(
        units,
        activation=activation,
        name=name,
        dtype=dtype,
        kernel_initializer=tf.keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
        bias_initializer=tf.keras.initializers.RandomUniform(-limit, limit),
    )


def build_classifier(
    backbone_handle: str,
    input_shape: tuple[int, ...],
    input_dtype: tf.DType,
    num_classes: int,
    hidden_units: Sequence[int] = (),
    dropout: float = 0.0,
    trainable_backbone: bool = False,
    seed: int = 0,
    backbone_train_mode: str = "inference",
) -> GroupedTrainingModel:
    """Backbone (`hub.KerasLayer`) -> optional dense layers -> dropout -> logits.

    The model outputs logits; the exported serving signatures add the softmax.
    With `trainable_backbone=False` the backbone's variables are frozen.
    `backbone_train_mode`: `inference` (default) runs the backbone in inference mode
    even while some of its variables train (BatchNorm keeps its pretrained
    statistics, dropout inside the backbone is off); `training` runs it in training
    mode whenever it is trainable.
    Which variables actually train is chosen with `set_training_groups`. Under a
    mixed-precision policy the head computes in it, the logits stay float32.
    """
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes to train a classifier, got {num_classes}")
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input(shape=input_shape, dtype=input_dtype, name=MODEL_INPUT)
    # A SavedModel's functions have fixed dtypes: the backbone stays float32 under a mixed policy.
    backbone = hub.KerasLayer(backbone_handle, trainable=trainable_backbone, name=BACKBONE_LAYER, dtype="float32")
    x = backbone(inputs, training=False) if backbone_train_mode == "inference" else backbone(inputs)
    for index, units in enumerate(hidden_units):
        x = head_dense(units, x.shape[-1], f"head_dense_{index}", activation="relu")(x)
    if dropout > 0:
        x = tf.keras.layers.Dropout(dropout, seed=seed, name="head_dropout")(x)
    logits = head_dense(num_classes, x.shape[-1], LOGITS_LAYER, dtype="float32")(x)
    return GroupedTrainingModel(inputs, logits, name="transfer_classifier")


def build_multitask_classifier(
    backbone_handle: str,
    input_shape: tuple[int, ...],
    input_dtype: tf.DType,
    tasks: Sequence[TaskHead],
    hidden_units: Sequence[int] = (),
    dropout: float = 0.0,
    trainable_backbone: bool = False,
    seed: int = 0,
    backbone_train_mode: str = "inference",
) -> GroupedTrainingModel:
    """One shared backbone, one head per task (`build_classifier`'s head, its layers named `<layer>__<task>`; a task's own
    `hidden_units` in place of the shared ones where it has them).

    The model outputs a dict {task: logits}; each task's logits layer is `logits__<task>`
    (Keras names the task's metrics after it: `logits__<task>_accuracy`).
    """
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input(shape=input_shape, dtype=input_dtype, name=MODEL_INPUT)
    backbone = hub.KerasLayer(backbone_handle, trainable=trainable_backbone, name=BACKBONE_LAYER, dtype="float32")
    embedding = backbone(inputs, training=False) if backbone_train_mode == "inference" else backbone(inputs)
    outputs = {}
    for task in tasks:
        x = embedding
        for index, units in enumerate(task.dense_layers(hidden_units)):
            x = head_dense(units, x.shape[-1], task_feature(f"head_dense_{index}", task.name), activation="relu")(x)
        if dropout > 0:
            x = tf.keras.layers.Dropout(dropout, seed=seed, name=task_feature("head_dropout", task.name))(x)
        outputs[task.name] = head_dense(task.num_classes, x.shape[-1], task_logits_layer(task.name), dtype="float32")(x)
    return GroupedTrainingModel(inputs, outputs, name="multitask_classifier")


def task_logits_layer(task: str) -> str:
    """The logits layer of `task`'s head."""
    return task_feature(LOGITS_LAYER, task)


def _settings_arguments(settings: TrainerSettings) -> dict[str, Any]:
    """The builders' keyword arguments that the trainer settings fix (TF backbone, input, head, mode, seed, backbone train mode)."""
    if settings.tf_backbone_handle is None:
        raise ValueError("trainer settings: tf_backbone_handle is not set (backbone.name or backbone.handle)")
    input_shape, input_dtype = input_signature(settings.task_type, settings.image_size, settings.channels)
    return {
        "backbone_handle": settings.tf_backbone_handle,
        "input_shape": input_shape,
        "input_dtype": input_dtype,
        "hidden_units": settings.hidden_units,
        "dropout": settings.dropout,
        "trainable_backbone": settings.mode != "feature_extraction",
        "seed": settings.seed,
        "backbone_train_mode": settings.backbone_train_mode,
    }


def build_classifier_from_settings(settings: TrainerSettings, num_classes: int) -> GroupedTrainingModel:
    """`build_classifier` as the trainer settings describe it."""
    return build_classifier(num_classes=num_classes, **_settings_arguments(settings))


def build_multitask_classifier_from_settings(settings: TrainerSettings, tasks: Sequence[TaskHead]) -> GroupedTrainingModel:
    """`build_multitask_classifier` as the trainer settings describe it."""
    return build_multitask_classifier(tasks=tasks, **_settings_arguments(settings))


class ClassWeightedCrossentropy(tf.keras.losses.Loss):
    """Categorical cross-entropy on logits, each example weighted by its class's weight (what Keras' `class_weight` does for one output).

    A label row of zeros (a record without a label for this task) weighs 0.
    """

    def __init__(self, class_weights: Sequence[float], label_smoothing: float = 0.0, name: str = "class_weighted_crossentropy") -> None:
        super().__init__(name=name)
        self._class_weights = tf.constant(list(class_weights), tf.float32)
        self._crossentropy = tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing, reduction="none")

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        y_true = tf.cast(y_true, tf.float32)
        return self._crossentropy(y_true, y_pred) * tf.linalg.matvec(y_true, self._class_weights)


def compile_multitask_classifier(model: tf.keras.Model, learning_rate: float, tasks: Sequence[TaskHead], steps_per_execution: int = 1) -> None:
    """Adam (`FusedAdam`) + the loss-weighted sum of each task's class-weighted, smoothed cross-entropy; per task its accuracy
    and predicted-class count (logged as `logits__<task>_accuracy`, `logits__<task>_predicted_classes`)."""
    model.compile(
        optimizer=FusedAdam(learning_rate),
        loss={task.name: ClassWeightedCrossentropy(task.class_weights, task.label_smoothing) for task in tasks},
        loss_weights={task.name: task.loss_weight for task in tasks},
        metrics={task.name: [tf.keras.metrics.CategoricalAccuracy(name="accuracy"), PredictedClassCount(task.num_classes)] for task in tasks},
        steps_per_execution=steps_per_execution,
    )


def compile_classifier(model: tf.keras.Model, learning_rate: float, label_smoothing: float = 0.0, steps_per_execution: int = 1) -> None:
    """Adam (`FusedAdam`) + categorical cross-entropy on logits (one-hot labels, optional smoothing), with accuracy
    and the number of distinct classes predicted per epoch (what the divergence guard reads).

    `steps_per_execution` > 1 runs that many training steps per call into TensorFlow
    (batch-level callbacks then see every that-many steps).
    """
    model.compile(
        optimizer=FusedAdam(learning_rate),
        loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
        metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy"), PredictedClassCount(int(model.output_shape[-1]))],
        steps_per_execution=steps_per_execution,
    )
