"""Preprocessing shared by Transform, the TF trainer and the exported model (feature names: components/training_core/features.py)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import tensorflow as tf

from retrain.components.trainer_settings import InputSettings
from retrain.components.training_core.features import MODEL_INPUT


def model_input(features: Any) -> tf.Tensor:
    """The model input of a batch: `features[MODEL_INPUT]` of a feature dict, else the tensor itself."""
    return features[MODEL_INPUT] if isinstance(features, Mapping) else features


def to_dense_vector(values: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """Turns a [N, 1] dense or sparse single-value feature into a [N] dense tensor."""
    if isinstance(values, tf.SparseTensor):
        values = tf.sparse.to_dense(values, default_value="" if values.dtype == tf.string else 0)
    return tf.reshape(values, [-1])


WHITE = (1.0, 1.0, 1.0)


def _decode(data: tf.Tensor) -> tf.Tensor:
    """One encoded image -> float32 [H, W, C] in [0, 1], C in 1-4 (grey, grey+alpha, RGB, RGBA); 16-bit PNGs keep their range.

    BMPs decode as RGB: the fourth byte of a 32-bit BMP is usually padding, not alpha (as Pillow reads it).
    """

    def decode(channels: int) -> tf.Tensor:
        return tf.io.decode_image(data, channels=channels, dtype=tf.float32, expand_animations=False)

    return tf.cond(tf.strings.substr(data, 0, 2) == b"BM", lambda: decode(3), lambda: decode(0))


def _resized_premultiplied(image: tf.Tensor, image_size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """(colour [h, w, 1 or 3] premultiplied by alpha, alpha [h, w, 1]) at `image_size`, from a decoded image of any size.

    Resizing is linear with weights summing to one, so compositing the resized premultiplied
    colour equals resizing the composited image; only the premultiplication runs at full size,
    and only for images with alpha (LA or RGBA; palette transparency decodes as RGBA).
    """
    channels = tf.shape(image)[-1]
    has_alpha = tf.equal(channels % 2, 0)

    def premultiplied() -> tuple[tf.Tensor, tf.Tensor]:
        alpha = image[..., -1:]
        return image[..., :-1] * alpha, alpha

    def opaque() -> tuple[tf.Tensor, tf.Tensor]:
        return image, tf.ones_like(image[:1, :1, :1])

    colour, alpha = tf.cond(has_alpha, premultiplied, opaque)
    colour = tf.image.resize(colour, image_size, antialias=True)
    alpha = tf.image.resize(alpha, image_size, antialias=True)
    return colour, alpha


def _to_channels(colour: tf.Tensor, channels: int) -> tf.Tensor:
    """Grey [H, W, 1] or RGB [H, W, 3] -> `channels` channels (grey repeated, or RGB to luma)."""
    if channels == 3:
        converted = tf.cond(tf.shape(colour)[-1] == 1, lambda: tf.tile(colour, [1, 1, 3]), lambda: colour)
    else:
        converted = tf.cond(tf.shape(colour)[-1] == 3, lambda: tf.image.rgb_to_grayscale(colour), lambda: colour)
    return tf.ensure_shape(converted, [None, None, channels])


def decode_images(encoded: tf.Tensor, image_size: tuple[int, int], channels: int, background: Sequence[float] = WHITE) -> tf.Tensor:
    """Decodes PNG/JPEG/GIF/BMP bytes [N] into float32 [N, H, W, C] in [0, 1], resized to `image_size`.

    Transparent pixels (RGBA, LA, palette transparency) are composited onto `background`
    (RGB in [0, 1]; its luma for one channel); grey images are repeated to RGB and RGB
    images turned to luma as `channels` asks; 16-bit PNGs are scaled from their full
    range; downscaling is antialiased. Channel conversion and compositing are linear, so
    they run after resizing, on the small image. EXIF orientation and GIF transparency need
    Pillow: ImageFolderExampleGen re-encodes such images at ingestion.
    Empty values become blank images; their records carry no label id (see `has_value`).
    """
    backdrop = tf.constant(background, tf.float32)
    if channels == 1:
        backdrop = tf.image.rgb_to_grayscale(backdrop)

    def decode_one(data: tf.Tensor) -> tf.Tensor:
        colour, alpha = _resized_premultiplied(_decode(data), image_size)
        return _to_channels(colour, channels) + backdrop * (1.0 - alpha)

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


def model_input_from_raw(raw: tf.Tensor, settings: InputSettings) -> tf.Tensor:
    """Preprocesses the raw input feature ([N] bytes or strings) the way the backbone expects."""
    if settings.task_type == "image_classification":
        return decode_images(raw, settings.image_size, settings.channels, settings.background)
    return raw
