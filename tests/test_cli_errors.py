"""Bad input: exit 2 with one readable line, and nothing written to the push destination."""
from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from components.digits_example.prepare import ExampleLayout
from pipelines.cli import main


def _write_config(tmp_path: Path, **sections: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def _run_expecting_usage_error(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    output = tmp_path / "out"
    assert main(["run", "--config", str(config), "--output", str(output)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("retrain: error: ")
    assert not (output / "serving").exists()
    return lines[0]


def _write_examples(path: Path, features: dict[str, bytes], count: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            feature = {name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])) for name, value in features.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_missing_data_directory(tmp_path: Path, digits_example: ExampleLayout, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path, data={"path": "no-such-dir"}, backbone={"handle": str(digits_example.backbone_dir)})
    assert "data.path: directory not found" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_empty_data_directory(tmp_path: Path, digits_example: ExampleLayout, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    config = _write_config(tmp_path, data={"path": "data"}, backbone={"handle": str(digits_example.backbone_dir)})
    assert "data: no files match '*'" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_zero_byte_data_files(tmp_path: Path, digits_example: ExampleLayout, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "part-0.tfrecord").write_bytes(b"")
    config = _write_config(tmp_path, data={"path": "data"}, backbone={"handle": str(digits_example.backbone_dir)})
    assert "is empty" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_file_that_is_not_a_tfrecord(tmp_path: Path, digits_example: ExampleLayout, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "part-0.tfrecord").write_text("label,text\nspam,hello\n")
    config = _write_config(tmp_path, data={"path": "data"}, backbone={"handle": str(digits_example.backbone_dir)})
    assert "is not a readable TFRecord file" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_records_without_the_label_feature(tmp_path: Path, digits_example: ExampleLayout, capsys: pytest.CaptureFixture[str]) -> None:
    _write_examples(tmp_path / "data" / "part-0.tfrecord", {"image": b"png"})
    config = _write_config(tmp_path, data={"path": "data"}, backbone={"handle": str(digits_example.backbone_dir)})
    assert "lack feature(s) ['label']" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_csv_without_rows(tmp_path: Path, digits_example: ExampleLayout, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\n")
    config = _write_config(
        tmp_path,
        task={"type": "text_classification"},
        data={"path": "data", "format": "csv"},
        backbone={"handle": str(digits_example.backbone_dir)},
    )
    assert "has a header but no rows" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_backbone_path_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path, backbone={"handle": "missing-model"})
    assert "backbone.handle: path does not exist" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_backbone_that_is_not_a_saved_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "weights.h5").write_bytes(b"\0")
    config = _write_config(tmp_path, backbone={"handle": "not-a-model"})
    assert "not a SavedModel directory" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_malformed_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("training: {epochs: 3\n")
    assert "not valid YAML" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_contradictory_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path, data={"example": "digits", "path": "somewhere"})
    assert "mutually exclusive" in _run_expecting_usage_error(tmp_path, config, capsys)


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--epochs", "3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --epochs 3" in capsys.readouterr().err
