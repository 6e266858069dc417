"""The built-in example's data: scikit-learn's digits as PNG-encoded tf.Examples.

The 1,797 8x8 digit images ship inside scikit-learn, so the example runs offline.
They are split into a *source* task (digits 0-4, used to pretrain the backbone)
and a *target* task (digits 5-9) with only a few labelled images per class for
training and the rest held out for evaluation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)
IMAGE_SIZE = (8, 8)


@dataclass(frozen=True)
class LabelledImages:
    """Images as float32 [N, 8, 8, 1] in [0, 1] and their digit labels."""

    images: np.ndarray
    labels: np.ndarray


def load_digits_images() -> LabelledImages:
    """All digits images scaled to [0, 1], with their digit labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    return LabelledImages(images=images, labels=digits.target.astype(np.int64))


def select_digits(data: LabelledImages, digits: tuple[int, ...]) -> LabelledImages:
    """Keeps only the images of the given digits."""
    mask = np.isin(data.labels, digits)
    return LabelledImages(images=data.images[mask], labels=data.labels[mask])


def few_shot_split(data: LabelledImages, per_class: int, seed: int) -> tuple[LabelledImages, LabelledImages]:
    """Takes `per_class` random images of each class for training; the rest is the eval split."""
    rng = np.random.default_rng(seed)
    train_idx: list[int] = []
    for label in np.unique(data.labels):
        candidates = np.flatnonzero(data.labels == label)
        if len(candidates) <= per_class:
            raise ValueError(f"digit {label} has only {len(candidates)} images, need more than {per_class}")
        train_idx.extend(rng.choice(candidates, size=per_class, replace=False).tolist())
    train_mask = np.zeros(len(data.labels), dtype=bool)
    train_mask[train_idx] = True
    return (
        LabelledImages(data.images[train_mask], data.labels[train_mask]),
        LabelledImages(data.images[~train_mask], data.labels[~train_mask]),
    )


def encode_png(image: np.ndarray) -> bytes:
    """Encodes one float [H, W, 1] image in [0, 1] as an 8-bit grayscale PNG."""
    pixels = np.clip(np.rint(image[..., 0] * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def write_tfrecord(
    data: LabelledImages, path: Path, image_feature: str, label_feature: str, more_labels: Mapping[str, Mapping[int, str]] = {}
) -> int:
    """Writes PNG-encoded tf.Examples (image bytes + label string); returns the count.

    `more_labels`: further label columns, {column: {digit: value}} (several tasks on one backbone).
    """
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(data.images, data.labels):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        image_feature: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encode_png(image)])),
                        label_feature: tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(label).encode()])),
                        **{
                            column: tf.train.Feature(bytes_list=tf.train.BytesList(value=[values[int(label)].encode()]))
                            for column, values in more_labels.items()
                        },
                    }
                )
            )
            writer.write(example.SerializeToString())
    return len(data.labels)
