"""Transformed examples of several tasks as the TF trainer reads them: model input and {task: one-hot labels}.

A record trains only when every task has a label id for it (LabelPrep counts the blank
and unknown labels of each task as its problems; with `labels.on_problem: warn` such
records are left out).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx_bsl.public import tfxio

from retrain.components.training_core.features import MODEL_INPUT, labelled
from retrain.components.training_core.tasks import TaskHead, task_label_id


def labelled_by_every_task(features: dict[str, tf.Tensor], tasks: Sequence[TaskHead]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """({model input}, {task: one-hot labels}) of the records of a batch that carry a label id for every task."""
    ids = {task.name: tf.reshape(features[task_label_id(task.name)], [-1]) for task in tasks}
    keep = tf.reduce_all(tf.stack([labelled(task_ids) for task_ids in ids.values()]), axis=0)
    labels = {task.name: tf.one_hot(tf.boolean_mask(ids[task.name], keep), task.num_classes) for task in tasks}
    return {MODEL_INPUT: tf.boolean_mask(features[MODEL_INPUT], keep)}, labels


def transformed_task_dataset(
    files: list[str],
    data_accessor: DataAccessor,
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    tasks: Sequence[TaskHead],
    shuffle_seed: int | None,
) -> tf.data.Dataset:
    """Batches of (features, {task: one-hot labels}) of transformed examples (`label_id__<task>` per task)."""
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=shuffle_seed is not None, shuffle_seed=shuffle_seed)
    dataset = data_accessor.tf_dataset_factory(files, options, tft_output.transformed_metadata.schema)
    return dataset.map(lambda features: labelled_by_every_task(features, tasks)).prefetch(tf.data.AUTOTUNE)
