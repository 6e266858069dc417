"""StatisticsGen's options: an image task's encoded images get bytes statistics, not top-k/unique sketches; same schema."""

from __future__ import annotations

from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from retrain.components.digits_example import data as digits
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.pipeline import statistics_options


def _config(task_type: str) -> RetrainConfig:
    data = {"path": "/data", "format": "tfrecord"} if task_type == "image_classification" else {"path": "/data", "format": "csv"}
    return RetrainConfig.model_validate({"data": data, "backbone": {"handle": "/b"}, "task": {"type": task_type}})


def _feature(statistics: statistics_pb2.DatasetFeatureStatisticsList, name: str) -> statistics_pb2.FeatureNameStatistics:
    return next(feature for feature in statistics.datasets[0].features if feature.path.step == [name])


def test_image_inputs_get_bytes_statistics_and_the_inferred_schema_is_unchanged(tmp_path: Path) -> None:
    images = digits.select_digits(digits.load_digits_images(), (5, 6))
    path = tmp_path / "data.tfrecord"
    digits.write_tfrecord(digits.LabelledImages(images.images[:40], images.labels[:40]), path, "image", "label")
    options = statistics_options(_config("image_classification"))
    assert options is not None and tfdv.StatsOptions.from_json(options.to_json()).schema == options.schema  # survives the component's JSON

    declared = tfdv.generate_statistics_from_tfrecord(str(path), stats_options=options)
    plain = tfdv.generate_statistics_from_tfrecord(str(path))
    image = _feature(declared, "image")
    assert image.type == statistics_pb2.FeatureNameStatistics.BYTES and image.bytes_stats.common_stats.num_non_missing == 40
    assert _feature(plain, "image").string_stats.unique == 40, "without the option every image is hashed into the sketches"
    assert _feature(declared, "label").string_stats.unique == 2, "labels keep their top-k and unique counts"
    assert tfdv.infer_schema(declared) == tfdv.infer_schema(plain)


def test_text_tasks_keep_tfdv_defaults() -> None:
    assert statistics_options(_config("text_classification")) is None
