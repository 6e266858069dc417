"""Test data helper: the sklearn digits with two label columns, `digit` (10 classes) and `size` (`high` for 5-9, else `low`),
through the real Transform graph (tft_beam in-process), each task's label map beside it. Both trainers' multi-task tests use it
(fixture `two_task_digits` in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.label_prep.label_map import LabelMap
from retrain.components.label_prep.task_maps import save_task_label_maps
from retrain.components.trainer_settings import LABEL_VOCABULARY_KEY, TASK_VOCABULARIES_KEY, transform_custom_config
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.trainer_settings import trainer_settings_for
from hub_trainer_data import TransformedDigits, data_accessor, transform_splits

TASKS = ("digit", "size")
VOCABULARIES = {"digit": [str(d) for d in range(10)], "size": ["high", "low"]}


def size_of(digit: int) -> str:
    """The `size` label of a digit."""
    return "high" if digit >= 5 else "low"


def raw_example(image: np.ndarray, digit: int | None = None) -> dict[str, bytes]:
    """A raw example: the PNG image and, given its digit, both labels."""
    example = {"image": digits.encode_png(image)}
    if digit is not None:
        example.update(digit=str(digit).encode(), size=size_of(digit).encode())
    return example


def serialized(example: dict[str, bytes]) -> bytes:
    """A raw example as a serialized tf.Example."""
    features = {name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])) for name, value in example.items()}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def two_task_config(layout: ExampleLayout, **training: object) -> RetrainConfig:
    """The multi-task config on the example's backbones (validated, not `config_from_dict`: that refuses several labels
    until a whole pipeline runs them)."""
    return RetrainConfig.model_validate(
        {
            "data": {"path": "/data", "format": "tfrecord"},
            "backbone": {"handle": str(layout.backbone_dir), "torch_checkpoint": str(layout.torch_backbone_path)},
            "task": {"labels": list(TASKS), "loss_weights": {"size": 0.5}},
            "training": training,
        }
    )


@dataclass(frozen=True)
class TwoTaskDigits:
    transformed: TransformedDigits
    eval_images: np.ndarray
    eval_digits: np.ndarray


def transform_two_task_digits(directory: Path, layout: ExampleLayout) -> TwoTaskDigits:
    """Every digit, 20 train images each (a quarter of the rest to evaluate), through the real Transform graph."""
    train, evaluation = digits.few_shot_split(digits.load_digits_images(), 20, seed=0)
    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in ("image", *TASKS)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    inputs = trainer_settings_for(two_task_config(layout)).inputs
    custom_config = {
        **transform_custom_config(inputs, "tests"),
        LABEL_VOCABULARY_KEY: VOCABULARIES["digit"],
        TASK_VOCABULARIES_KEY: VOCABULARIES,
    }
    eval_images, eval_digits = evaluation.images[::4], evaluation.labels[::4]
    splits = {
        "train": [raw_example(i, int(d)) for i, d in zip(train.images, train.labels)],
        "eval": [raw_example(i, int(d)) for i, d in zip(eval_images, eval_digits)],
    }
    transform_dir, files = transform_splits(directory, splits, metadata, custom_config)
    maps = {task: LabelMap(labels=labels, class_weights=[1.0] * len(labels)) for task, labels in VOCABULARIES.items()}
    save_task_label_maps(maps, str(transform_dir))
    transformed = TransformedDigits(str(transform_dir), files["train"], files["eval"], data_accessor())
    return TwoTaskDigits(transformed, eval_images, eval_digits)


def write_examples_artifact(root: Path, transformed: TransformedDigits) -> Path:
    """The transformed train/eval records as an Examples artifact directory under `root`, gzipped as TFX's Transform writes them
    (what TorchTrainer and TorchTuner read)."""
    examples = root / "examples"
    for split, files in (("train", transformed.train_files), ("eval", transformed.eval_files)):
        (examples / f"Split-{split}").mkdir(parents=True)
        with tf.io.TFRecordWriter(str(examples / f"Split-{split}" / "data.gz"), options="GZIP") as writer:
            for record in tf.data.TFRecordDataset(files):
                writer.write(record.numpy())
    return examples
