"""The built-in example's backbone: a small CNN pretrained on digits 0-4.

It is exported as a TF2 SavedModel in TF Hub format, so the pipeline loads it
with `hub.KerasLayer` exactly as it would load a tfhub.dev module. Layer names
are kept in the variable names (`block1_conv/kernel:0`, ...) so later modes can
unfreeze blocks by depth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from retrain.components.digits_example.data import LabelledImages
from retrain.components.hub_trainer.model import compile_classifier

EMBEDDING_SIZE = 128


def build_backbone(image_shape: tuple[int, int, int], seed: int) -> tf.keras.Model:
    """A randomly initialised conv backbone mapping images to a 128-d embedding (pooled block3 features)."""
    tf.keras.utils.set_random_seed(seed)
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=image_shape, name="image")
    x = inputs
    for block, filters in enumerate((32, 64, EMBEDDING_SIZE), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = layers.ReLU(name=f"block{block}_relu")(x)
        if block == 2:
            x = layers.MaxPooling2D(2, name="block2_pool")(x)
    outputs = layers.GlobalAveragePooling2D(name="embedding")(x)
    return tf.keras.Model(inputs, outputs, name="digits_backbone")


def classifier_on(backbone: tf.keras.Model, num_classes: int, learning_rate: float = 1e-2) -> tf.keras.Model:
    """Backbone plus a linear logits head, compiled like the pipeline's trainer (one-hot labels)."""
    logits = tf.keras.layers.Dense(num_classes, name="logits")(backbone.output)
    model = tf.keras.Model(backbone.input, logits)
    compile_classifier(model, learning_rate)
    return model


def pretrain_backbone(source: LabelledImages, epochs: int, seed: int) -> tf.keras.Model:
    """Trains the backbone on the source task and returns it (the throwaway head is dropped).

    Random shifts and zooms, dropout before the head and label smoothing keep the
    features general rather than specific to the source classes, which is what
    makes them transfer to unseen digits.
    """
    layers = tf.keras.layers
    backbone = build_backbone(source.images.shape[1:], seed)
    classes = np.unique(source.labels)
    inputs = tf.keras.Input(shape=source.images.shape[1:])
    augmented = layers.RandomTranslation(0.15, 0.15, fill_mode="constant", seed=seed)(inputs)
    augmented = layers.RandomZoom(0.15, fill_mode="constant", seed=seed)(augmented)
    features = layers.Dropout(0.3, seed=seed)(backbone(augmented))
    model = tf.keras.Model(inputs, layers.Dense(len(classes))(features))
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3),
        loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    )
    one_hot = tf.one_hot(np.searchsorted(classes, source.labels), len(classes))
    model.fit(source.images, one_hot, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    return backbone


def export_hub_module(backbone: tf.keras.Model, directory: Path) -> None:
    """Saves the backbone as a TF2 SavedModel loadable by `hub.KerasLayer`."""
    tf.saved_model.save(backbone, str(directory))
