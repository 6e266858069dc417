"""Test data helper: digits run through the real Transform graph in-process (tft_beam), laid out like TFX's outputs.

Gives the trainer's and tuner's entry points everything a TFX execution would:
transformed train/eval TFRecords, the transform graph (with raw metadata) and the label map beside it,
and a DataAccessor reading them as TFX does (TFXIO over tf.Examples).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer.transform_module import preprocessing_fn
from retrain.components.label_prep.label_map import LabelMap, save_label_map
from retrain.pipelines.config import config_from_dict
from retrain.components.trainer_settings import trainer_custom_config
from retrain.pipelines.code_version import components_fingerprint
from retrain.pipelines.trainer_settings import trainer_settings_for
from settings_data import transform_config

CLASS_NAMES = ["5", "6", "7", "8", "9"]
SETTINGS = transform_config(CLASS_NAMES, image_size=(8, 8), channels=1)


@dataclass(frozen=True)
class TransformedDigits:
    transform_output: str
    train_files: list[str]
    eval_files: list[str]
    data_accessor: tfx.components.DataAccessor


def _raw_examples(images: digits.LabelledImages) -> list[dict[str, bytes]]:
    return [{"image": digits.encode_png(image), "label": str(label).encode()} for image, label in zip(images.images, images.labels)]


def data_accessor() -> tfx.components.DataAccessor:
    """Reads transformed tf.Example TFRecords the way TFX's Trainer and Tuner do."""

    def factory(files: list[str], options: tfxio.TensorFlowDatasetOptions, schema: object) -> tf.data.Dataset:
        return tfxio.TFExampleRecord(file_pattern=files, schema=schema).TensorFlowDataset(options)

    return tfx.components.DataAccessor(tf_dataset_factory=factory, record_batch_factory=None, data_view_decode_fn=None)


def transform_splits(
    directory: Path, splits: dict[str, list[dict[str, Any]]], metadata: dataset_metadata.DatasetMetadata, custom_config: Mapping[str, Any]
) -> tuple[Path, dict[str, list[str]]]:
    """Analyzes `splits["train"]` with the real `preprocessing_fn`, writes the transform graph (with raw metadata) to
    `directory/transform_graph` and every split's transformed examples to `directory/<split>/data.tfrecord`."""
    transform_dir = directory / "transform_graph"
    files = {}
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=directory)):
        transform_fn = (splits["train"], metadata) | tft_beam.AnalyzeDataset(lambda inputs: preprocessing_fn(inputs, custom_config))
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
        for split, raw in splits.items():
            (transformed, transformed_metadata) = ((raw, metadata), transform_fn) | f"Transform{split}" >> tft_beam.TransformDataset()
            coder = tft.coders.ExampleProtoCoder(transformed_metadata.schema)
            path = directory / split / "data.tfrecord"
            path.parent.mkdir(parents=True)
            with tf.io.TFRecordWriter(str(path)) as writer:
                for example in transformed:
                    writer.write(coder.encode(example))
            files[split] = [str(path)]
    metadata_io.write_metadata(metadata, str(transform_dir / tft.TFTransformOutput.RAW_METADATA_DIR))
    return transform_dir, files


def transformed_digits(directory: Path, per_class: int, eval_limit: int = 100) -> TransformedDigits:
    """`per_class` train images of each digit 5-9 and up to `eval_limit` eval images, transformed."""
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train, evaluation = digits.few_shot_split(target, per_class, seed=0)
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    splits = {"train": _raw_examples(train), "eval": _raw_examples(evaluation)[:eval_limit]}
    transform_dir, files = transform_splits(directory, splits, metadata, SETTINGS)
    save_label_map(LabelMap(labels=CLASS_NAMES, class_weights=[1.0] * 5), str(transform_dir))
    return TransformedDigits(str(transform_dir), files["train"], files["eval"], data_accessor())


def trainer_settings(layout: ExampleLayout, **training: object) -> dict:
    """The Trainer's custom_config for the example backbone, as the pipeline builds it."""
    config = config_from_dict({"data": {"path": "/data"}, "backbone": {"handle": str(layout.backbone_dir)}, "training": training})
    return trainer_custom_config(trainer_settings_for(config), components_fingerprint())


def fn_args(transformed: TransformedDigits, root: Path, settings: dict, hyperparameters: dict | None = None) -> tfx.components.FnArgs:
    """What TFX passes to run_fn/tuner_fn for one execution writing under `root/Trainer`."""
    return tfx.components.FnArgs(
        train_files=transformed.train_files,
        eval_files=transformed.eval_files,
        transform_output=transformed.transform_output,
        transform_graph_path=transformed.transform_output,
        data_accessor=transformed.data_accessor,
        serving_model_dir=str(root / "Trainer" / "model" / "7" / "Format-Serving"),
        model_run_dir=str(root / "Trainer" / "model_run" / "7"),
        custom_config=settings,
        hyperparameters=hyperparameters,
    )
