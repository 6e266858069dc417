"""The TF and PyTorch trainers, and TF serving, see the same pixels for an RGBA, an EXIF-rotated and a 16-bit image.

Both trainers read Transform's output (the TF trainer through TFXIO, the PyTorch
trainer through `TransformedExamples`), and the TF model's `serving_raw` runs the same
Transform graph on raw bytes; so decoding happens once, in Transform, after ingestion
normalised what only Pillow reads right. The files go through the real steps:
ingestion (`classify`), Transform (tft_beam), GZIP TFRecords, each reader; the pixels
are also checked against Pillow's own rendering of each file.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import retrain.components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from PIL import Image, ImageOps
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from retrain.components.hub_trainer.features import WHITE
from retrain.components.hub_trainer.trainer_module import transformed_dataset
from retrain.components.hub_trainer.transform_module import preprocessing_fn
from retrain.components.image_example_gen.records import ImageItem, classify
from retrain.components.image_example_gen.settings import IngestSettings
from retrain.components.torch_trainer.data import TransformedExamples
from retrain.components.training_core.features import MODEL_INPUT
from hub_trainer_data import data_accessor
from settings_data import transform_config

HEIGHT, WIDTH = 8, 16
SETTINGS = transform_config(["rgba", "exif", "16bit"], image_size=(HEIGHT, WIDTH), channels=3, background=WHITE)


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _user_files() -> dict[str, bytes]:
    """Three real files, each WIDTH x HEIGHT as shown: an RGBA icon, a phone photo (EXIF 6), a 16-bit PNG."""
    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 4), dtype=np.uint8), "RGBA")
    upright = Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90 degrees counter-clockwise: shown after a clockwise turn
    photo = _encoded(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=90, exif=exif.tobytes())
    deep = Image.fromarray(rng.integers(0, 65536, (HEIGHT, WIDTH), dtype=np.uint16))
    return {"rgba": _encoded(rgba, "PNG"), "exif": photo, "16bit": _encoded(deep, "PNG")}


def _as_pillow_shows(data: bytes) -> np.ndarray:
    """Pillow's rendering of a file, float RGB in [0, 1]: orientation applied, alpha over white, 16 bits kept."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode == "I;16":
        return np.repeat(np.asarray(image, np.float64)[..., None] / 65535, 3, axis=-1)
    rgba = np.asarray(image.convert("RGBA"), np.float64) / 255
    return rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])


def _transformed(raw: list[dict[str, bytes]], directory: Path) -> tuple[str, list[str]]:
    """The transform graph and GZIP TFRecords of transformed `raw` examples, as Transform writes them."""
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    transform_dir, records = directory / "transform_graph", directory / "data.tfrecord.gz"
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=directory)):
        transformed_data, transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(lambda inputs: preprocessing_fn(inputs, SETTINGS))
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
        transformed, transformed_metadata = transformed_data
        coder = tft.coders.ExampleProtoCoder(transformed_metadata.schema)
        with tf.io.TFRecordWriter(str(records), options="GZIP") as writer:
            for example in transformed:
                writer.write(coder.encode(example))
    return str(transform_dir), [str(records)]


def test_tf_and_torch_trainers_and_serving_see_the_same_pixels(tmp_path: Path) -> None:
    files = _user_files()
    names = list(files)
    stored = []
    for name in names:
        example = classify(files[name], ImageItem(uri=f"/data/{name}/a", path=f"{name}/a", label=name), IngestSettings())
        assert isinstance(example, tf.train.Example), example
        stored.append(example.features.feature["image"].bytes_list.value[0])
    transform_dir, records = _transformed([{"image": data, "label": name.encode()} for name, data in zip(names, stored)], tmp_path)
    tft_output = tft.TFTransformOutput(transform_dir)

    [(features, _)] = list(transformed_dataset(records, data_accessor(), tft_output, len(names), len(names), shuffle_seed=None))
    tf_pixels = features[MODEL_INPUT].numpy()
    torch_pixels = np.stack([image for image, _ in TransformedExamples(records, tft_output.transformed_feature_spec())])
    serving_pixels = tft_output.transform_features_layer()({"image": tf.constant(stored)})[MODEL_INPUT].numpy()

    assert tf_pixels.shape == (3, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(torch_pixels, tf_pixels)
    np.testing.assert_allclose(serving_pixels, tf_pixels, atol=1e-6)
    for name, pixels in zip(names, tf_pixels):
        np.testing.assert_allclose(pixels, _as_pillow_shows(files[name]), atol=1 / 255, err_msg=name)
