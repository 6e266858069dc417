"""Checks that run before the pipeline starts, so bad input fails fast with one clear line."""
from __future__ import annotations

import csv
from pathlib import Path

from pipelines.config import ConfigError, RetrainConfig


class InputError(ConfigError):
    """Data or backbone that cannot be used, found before anything ran."""


def _data_files(root: Path, pattern: str) -> list[Path]:
    glob = pattern.replace("{SPAN}", "*").replace("{VERSION}", "*")
    files = sorted(path for path in root.glob(glob) if path.is_file())
    if not files:
        raise InputError(f"data: no files match '{pattern}' in {root}")
    empty = [path for path in files if path.stat().st_size == 0]
    if len(empty) == len(files):
        raise InputError(f"data: every file matching '{pattern}' in {root} is empty, e.g. {empty[0]}")
    return [path for path in files if path.stat().st_size > 0]


def _check_tfrecord(path: Path, required: list[str]) -> None:
    import tensorflow as tf

    try:
        records = list(tf.data.TFRecordDataset(str(path)).take(1).as_numpy_iterator())
    except tf.errors.OpError as error:
        raise InputError(f"data: {path} is not a readable TFRecord file: {error.message.splitlines()[0]}") from None
    if not records:
        raise InputError(f"data: {path} holds no records")
    example = tf.train.Example.FromString(records[0])
    present = set(example.features.feature)
    missing = [name for name in required if name not in present]
    if missing:
        raise InputError(f"data: records in {path} lack feature(s) {missing}; found {sorted(present)}")


def _check_csv(path: Path, required: list[str]) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        missing = [name for name in required if name not in header]
        if missing:
            raise InputError(f"data: {path} lacks column(s) {missing}; header is {header}")
        if next(reader, None) is None:
            raise InputError(f"data: {path} has a header but no rows")


def check_data(config: RetrainConfig) -> None:
    """The data directory exists and each split's files hold records with the configured features."""
    data = config.data
    if data.path is None:
        return
    if not data.path.is_dir():
        raise InputError(f"data.path: directory not found: {data.path}")
    patterns = data.input_patterns()
    required = [config.task.input_feature, config.task.label_feature]
    for pattern in patterns:
        first = _data_files(data.path, pattern)[0]
        if data.format == "tfrecord":
            _check_tfrecord(first, required)
        elif data.format == "csv":
            _check_csv(first, required)
        elif data.format == "image_manifest":
            _check_csv(first, ["path", "label"])


def check_schema(config: RetrainConfig) -> None:
    """A pinned schema file exists and parses as a TFDV schema text proto."""
    if config.data.schema_file is None:
        return
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if not config.data.schema_file.is_file():
        raise InputError(f"data.schema_file: file not found: {config.data.schema_file}")
    try:
        text_format.Parse(config.data.schema_file.read_text(), schema_pb2.Schema())
    except text_format.ParseError as error:
        raise InputError(f"data.schema_file: not a TFDV schema text proto: {error}") from None


def check_backbone(config: RetrainConfig) -> None:
    """A local backbone handle is a SavedModel directory (URL handles are resolved by TF Hub later)."""
    backbone = config.backbone
    if backbone.handle is None or backbone.is_remote():
        return
    path = Path(backbone.handle)
    if not path.exists():
        raise InputError(f"backbone.handle: path does not exist: {path}")
    if not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
        raise InputError(f"backbone.handle: not a SavedModel directory (no saved_model.pb): {path}")


def run_preflight(config: RetrainConfig) -> None:
    """All checks; raises InputError with one line naming the problem."""
    check_backbone(config)
    check_schema(config)
    check_data(config)
