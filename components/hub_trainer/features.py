"""Feature names and preprocessing shared by Transform, the trainer and the exported model."""
from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf

LABEL_ID = "label_id"
MODEL_INPUT = "model_input"
LABEL_VOCABULARY_KEY = "label_vocabulary"  # custom_config key: class names in label-id order


def model_input(features: Any) -> tf.Tensor:
    """The model input of a batch: `features[MODEL_INPUT]` of a feature dict, else the tensor itself."""
    return features[MODEL_INPUT] if isinstance(features, Mapping) else features


def to_dense_vector(values: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """Turns a [N, 1] dense or sparse single-value feature into a [N] dense tensor."""
    if isinstance(values, tf.SparseTensor):
        values = tf.sparse.to_dense(values, default_value="" if values.dtype == tf.string else 0)
    return tf.reshape(values, [-1])


def decode_images(encoded: tf.Tensor, image_size: tuple[int, int], channels: int) -> tf.Tensor:
    """Decodes PNG/JPEG/GIF/BMP bytes [N] into float32 [N, H, W, C] in [0, 1], resized to `image_size`.

    Empty values become blank images; their records carry no label id (see `has_value`).
    """

    def decode_one(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.image.convert_image_dtype(image, tf.float32)
        return tf.image.resize(image, image_size)

    def blank() -> tf.Tensor:
        return tf.zeros([image_size[0], image_size[1], channels], tf.float32)

    return tf.map_fn(
        lambda data: tf.cond(tf.strings.length(data) > 0, lambda: decode_one(data), blank),
        encoded,
        fn_output_signature=tf.TensorSpec([image_size[0], image_size[1], channels], tf.float32),
    )


def has_value(raw: tf.Tensor) -> tf.Tensor:
    """[N] bool: the raw input is not empty (or whitespace only)."""
    return tf.strings.length(tf.strings.strip(raw)) > 0


def model_input_from_raw(raw: tf.Tensor, settings: Mapping[str, Any]) -> tf.Tensor:
    """Preprocesses the raw input feature ([N] bytes or strings) the way the backbone expects."""
    if settings["task_type"] == "image_classification":
        return decode_images(raw, tuple(settings["image_size"]), int(settings["channels"]))
    return raw
