"""Random image augmentation for training batches (never applied at evaluation or serving).

Stateless random ops seeded by (seed, training step): every step sees new
augmentations, and a run is reproducible.
"""

from __future__ import annotations

import tensorflow as tf

from retrain.components.training_core.plan import Augmentation


def augment_images(images: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """Augments float images [N, H, W, C] in [0, 1]; `seed` is a [2] int tensor."""
    if not augmentation.enabled:
        return images
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    batch = tf.shape(images)[0]
    if augmentation.crop_fraction > 0:
        keep = 1.0 - augmentation.crop_fraction
        offsets = tf.random.stateless_uniform([batch, 2], seeds[0], maxval=augmentation.crop_fraction)
        boxes = tf.concat([offsets, offsets + keep], axis=1)
        images = tf.image.crop_and_resize(images, boxes, tf.range(batch), tf.shape(images)[1:3])
    if augmentation.horizontal_flip:
        flip = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1]) < 0.5
        images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    if augmentation.brightness > 0:
        delta = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[2], -augmentation.brightness, augmentation.brightness)
        images = tf.clip_by_value(images + delta, 0.0, 1.0)
    return images
