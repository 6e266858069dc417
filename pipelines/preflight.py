"""Checks that run before the pipeline starts, so bad input fails fast with one clear line."""

from __future__ import annotations

import codecs
import csv
import os
from pathlib import Path
from typing import Iterator

from retrain.pipelines.config import ConfigError, RetrainConfig
from retrain.pipelines.paths import RunPaths


class InputError(ConfigError):
    """Data or backbone that cannot be used, found before anything ran."""


def matching_files(root: Path, pattern: str) -> list[Path]:
    """The files under `root` an ExampleGen split `pattern` (with `{SPAN}`/`{VERSION}` as wildcards) reads."""
    glob = pattern.replace("{SPAN}", "*").replace("{VERSION}", "*")
    return sorted(path for path in root.glob(glob) if path.is_file())


def _data_files(root: Path, pattern: str) -> list[Path]:
    files = matching_files(root, pattern)
    if not files:
        raise InputError(f"data: no files match '{pattern}' in {root}")
    empty = [path for path in files if path.stat().st_size == 0]
    if len(empty) == len(files):
        raise InputError(f"data: every file matching '{pattern}' in {root} is empty, e.g. {empty[0]}")
    return [path for path in files if path.stat().st_size > 0]


def decoded_lines(path: Path, encoding: str) -> Iterator[str]:
    """The lines of a text file decoded with `encoding` (line ends kept); InputError naming the file and line otherwise."""
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0
    with path.open("rb") as handle:
        try:
            for number, raw in enumerate(handle, start=1):  # noqa: B007 (read by the except clause)
                yield decoder.decode(raw)
            yield decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise InputError(
                f"data: {path} line {max(number, 1)} is not {encoding} text ({error.reason} at byte 0x{error.object[error.start]:02x}); "
                "set data.encoding to the files' encoding (e.g. latin-1)"
            ) from None


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


def _check_decodable(path: Path, encoding: str) -> None:
    for _ in decoded_lines(path, encoding):
        pass


def _check_csv(path: Path, required: list[str], encoding: str = "utf-8") -> None:
    _check_decodable(path, encoding)
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        missing = [name for name in required if name not in header]
        if missing:
            raise InputError(f"data: {path} lacks column(s) {missing}; header is {header}")
        if next(reader, None) is None:
            raise InputError(f"data: {path} has a header but no rows")


def check_data(config: RetrainConfig) -> None:
    """The data directory exists and each split's files hold records with the configured input and every task's label column."""
    data = config.data
    if data.path is None:
        return
    if not data.path.is_dir():
        raise InputError(f"data.path: directory not found: {data.path}")
    patterns = data.input_patterns()
    required = [config.task.input_feature, *config.task.task_labels]
    for pattern in patterns:
        files = _data_files(data.path, pattern)
        if data.format == "tfrecord":
            _check_tfrecord(files[0], required)
        elif data.format == "csv":
            _check_csv(files[0], required, data.encoding)
            for later in files[1:]:  # every byte ExampleGen will decode
                _check_decodable(later, data.encoding)
        elif data.format == "image_manifest":
            _check_csv(files[0], ["path", "label"])


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


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and not path.is_symlink() and path != path.parent:
        path = path.parent
    return path


def _check_directory(setting: str, path: Path) -> None:
    """`path` is a writable directory, or can be created as one."""
    existing = _nearest_existing(path)
    if existing == path:
        if not path.is_dir():
            raise InputError(f"{setting}: not a directory (a file is in the way): {path}")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{setting}: directory not writable: {path}")
    elif not existing.is_dir():
        raise InputError(f"{setting}: cannot create {path}: {existing} is not a directory")
    elif not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{setting}: cannot create {path}: {existing} is not writable")


def _check_file(setting: str, path: Path) -> None:
    """`path` is a writable file, or can be created as one."""
    if path.is_dir():
        raise InputError(f"{setting}: a directory is in the way of the file: {path}")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{setting}: file not writable: {path}")
    _check_directory(setting, path.parent)


def check_writable_locations(config: RetrainConfig, paths: RunPaths) -> None:
    """Every place a run writes is a writable directory (or file) or can be created as one; one line naming the setting otherwise."""
    _check_directory("--output", paths.output_dir)
    if config.data.example is not None:
        _check_directory("--output", paths.examples_dir)
    _check_directory("runner.pipeline_root", paths.pipeline_root)
    _check_directory("push.destination", paths.serving_dir)
    _check_file("runner.metadata_path", paths.metadata_path)


def run_preflight(config: RetrainConfig) -> None:
    """All checks; raises InputError with one line naming the problem."""
    check_backbone(config)
    check_schema(config)
    check_data(config)
