"""Random image augmentation for training batches (never applied at evaluation or serving).

Stateless random ops seeded by (seed, training step): every step sees new
augmentations, and a run is reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from components.trainer_settings import AugmentationConfig


@dataclass(frozen=True)
class Augmentation:
    """Per-image random crop (up to `crop_fraction` of each side, resized back), left-right flip, brightness shift."""

    crop_fraction: float = 0.0
    horizontal_flip: bool = False
    brightness: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.crop_fraction > 0 or self.horizontal_flip or self.brightness > 0

    @classmethod
    def from_settings(cls, settings: AugmentationConfig) -> "Augmentation":
        """From the trainer settings' `augmentation`."""
        return cls(crop_fraction=settings.crop_fraction, horizontal_flip=settings.horizontal_flip, brightness=settings.brightness)


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
