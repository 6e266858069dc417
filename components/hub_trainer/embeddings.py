"""Feature extraction on cached embeddings: the frozen backbone runs once, the head trains on its output.

The head model shares its layers with the full classifier, so training it trains
the classifier that is exported (backbone + head, raw inputs in serving).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import tensorflow as tf

from retrain.components.hub_trainer.features import model_input
from retrain.components.hub_trainer.model import BACKBONE_LAYER
from retrain.components.hub_trainer.validation import validation_mask
from retrain.components.training_core.progress import ProgressLine
from retrain.components.training_core.tasks import task_feature
from retrain.components.training_core.validation import check_split


EMBEDDING_BATCH_SIZE = 256


def head_model(model: tf.keras.Model) -> tf.keras.Model:
    """The layers after the backbone as a model from embeddings to logits ({task: logits} with several heads), sharing their weights with `model`."""
    layers = model.layers
    backbone_index = next(index for index, layer in enumerate(layers) if layer.name == BACKBONE_LAYER)
    embedding = tf.keras.Input(shape=model.get_layer(BACKBONE_LAYER).output_shape[1:], name="embedding")
    if not isinstance(model.output, dict):
        x = embedding
        for layer in layers[backbone_index + 1 :]:
            x = layer(x)
        return tf.keras.Model(embedding, x, name="head")
    outputs = {}
    for task in model.output:  # each head's layers are named `<layer>__<task>`, in the order they were built
        x = embedding
        for layer in layers[backbone_index + 1 :]:
            if layer.name.endswith(task_feature("", task)):
                x = layer(x)
        outputs[task] = x
    return tf.keras.Model(embedding, outputs, name="head")


def embed(
    model: tf.keras.Model,
    batches: tf.data.Dataset,
    validation_fraction: float = 0.0,
    seed: int = 0,
    progress: Optional[str] = None,
) -> tuple[tuple[np.ndarray, np.ndarray], Optional[tuple[np.ndarray, np.ndarray]]]:
    """One pass of the frozen backbone over batches of (features, labels).

    Returns (embeddings, labels) of the training examples (labels: an array, or {task: array}) and, with a validation
    fraction, of the carved validation subset (see `validation.py`); else None.
    With `progress` (what is embedded), a long pass prints progress lines.
    """
    backbone = model.get_layer(BACKBONE_LAYER)
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], model.inputs[0].dtype)
    run_backbone = tf.function(lambda inputs: backbone(inputs, training=False), input_signature=[spec])
    embeddings: list[np.ndarray] = []
    labels: list[Any] = []
    in_validation: list[np.ndarray] = []
    examples = batches.unbatch()
    count = int(examples.cardinality())
    line = ProgressLine(f"embedding {progress}", count if count >= 0 else None, "examples") if progress else None
    done = 0
    # Inference only (BatchNorm in inference mode): large batches give the same embeddings, faster.
    for features, batch_labels in examples.batch(EMBEDDING_BATCH_SIZE):
        inputs = model_input(features)
        embeddings.append(run_backbone(inputs).numpy())
        labels.append(tf.nest.map_structure(np.asarray, batch_labels))
        mask = validation_mask(inputs, validation_fraction, seed) if validation_fraction > 0 else tf.zeros([len(embeddings[-1])], tf.bool)
        in_validation.append(mask.numpy())
        if line is not None:
            line.update(done := done + len(embeddings[-1]))
    if line is not None:
        line.close()
    if not embeddings:
        raise ValueError("no labelled training examples to embed")
    all_embeddings, mask = np.concatenate(embeddings), np.concatenate(in_validation)
    all_labels = tf.nest.map_structure(lambda *batches: np.concatenate(batches), *labels)
    if validation_fraction > 0:
        check_split(int((~mask).sum()), int(mask.sum()), validation_fraction)
    train = (all_embeddings[~mask], tf.nest.map_structure(lambda values: values[~mask], all_labels))
    validation = (all_embeddings[mask], tf.nest.map_structure(lambda values: values[mask], all_labels)) if validation_fraction > 0 else None
    return train, validation
