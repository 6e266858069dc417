"""Test data helper: TFRecords of PNG-encoded digits with chosen class names and counts."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

from retrain.components.digits_example import data as digits


def write_digit_records(
    path: Path, per_class: dict[int, int], names: dict[int, str], offset: int = 0, more_labels: Mapping[str, Mapping[int, str]] = {}
) -> None:
    """Writes `per_class[d]` images of each digit d (starting at `offset`) labelled `names[d]`; `more_labels`: further label
    columns, {column: {digit: value}}."""
    images = digits.load_digits_images()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for digit, count in per_class.items():
            for index in np.flatnonzero(images.labels == digit)[offset : offset + count]:
                feature = {
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[digits.encode_png(images.images[index])])),
                    "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[names[digit].encode()])),
                }
                for column, values in more_labels.items():
                    feature[column] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[values[digit].encode()]))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
