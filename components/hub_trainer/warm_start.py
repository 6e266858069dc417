"""Warm start of the Keras classifier from the previous blessed SavedModel (rule: components/training_core/warm_start.py).

The classifier's classes are its kernel's and bias's last axis.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2

from retrain.components.hub_trainer.model import LOGITS_LAYER, task_logits_layer
from retrain.components.training_core.warm_start import WarmStartReport, copy_matching

_HEAD_OUTPUTS = (f"{LOGITS_LAYER}/kernel", f"{LOGITS_LAYER}/bias")


def _name(variable: tf.Variable | Any) -> str:
    return variable.name.split(":")[0]


def saved_variables(saved_model_dir: str) -> dict[str, np.ndarray]:
    """Variable name -> value of a TF2 SavedModel, read from its checkpoint without loading its functions.

    The SavedModel's object graph and its checkpoint's object graph list the same
    objects in the same order; a variable node names the variable and its checkpoint
    node holds the key of its value. Falls back to loading the SavedModel when the
    two graphs do not line up.
    """
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as handle:
        saved_model.ParseFromString(handle.read())
    nodes = saved_model.meta_graphs[0].object_graph_def.nodes
    reader = tf.train.load_checkpoint(os.path.join(saved_model_dir, "variables", "variables"))
    checkpoint_graph = trackable_object_graph_pb2.TrackableObjectGraph()
    checkpoint_graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    values: dict[str, np.ndarray] = {}
    if len(nodes) == len(checkpoint_graph.nodes):
        for node, checkpoint_node in zip(nodes, checkpoint_graph.nodes):
            if node.WhichOneof("kind") != "variable":
                continue
            keys = [a.checkpoint_key for a in checkpoint_node.attributes if a.name == "VARIABLE_VALUE"]
            if not keys:
                break
            values[_name(node.variable)] = reader.get_tensor(keys[0])
        else:
            return values
    return {_name(variable): variable.numpy() for variable in tf.saved_model.load(saved_model_dir).variables}


def _head_outputs(model: tf.keras.Model) -> tuple[str, ...]:
    """The classifier kernel and bias names of `model`: one head's, or every task's (`logits__<task>/kernel`, ...)."""
    if not isinstance(model.output, dict):
        return _HEAD_OUTPUTS
    return tuple(f"{task_logits_layer(task)}/{part}" for task in model.output for part in ("kernel", "bias"))


def warm_start(model: tf.keras.Model, base_model_dir: str) -> WarmStartReport:
    """Copies every same-named, same-shaped variable of the SavedModel in `base_model_dir` into `model`.

    The classifier's kernel and bias (each task's, with several heads) may have more classes
    (last axis) than the base model's: their leading columns are copied and the remaining
    ones keep their fresh values. A head of a task the base model did not have starts fresh.
    """
    return copy_matching(
        ((_name(variable), variable) for variable in model.weights),
        saved_variables(base_model_dir),
        _head_outputs(model),
        class_axis=-1,
        restore=lambda variable, source: variable.assign(source),
        expand=lambda variable, source: variable.assign(tf.concat([source, variable[..., source.shape[-1] :]], axis=-1)),
    )
