"""`data.format` left unset is inferred from the data files; a format set in the config wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.pipelines.config import ConfigError, RetrainConfig, config_from_dict

TEXT = {"type": "text_classification"}


def _config(path: Path, task: dict | None = None, **data: object) -> RetrainConfig:
    raw = {"data": {"path": str(path), **data}, "backbone": {"handle": str(path)}}
    return config_from_dict({**raw, "task": task} if task else raw)


def test_a_folder_of_csv_files_is_csv_for_text_and_manifests_for_images(tmp_path: Path) -> None:
    (tmp_path / "messages.csv").write_text("text,label\nhello,greeting\n")
    assert _config(tmp_path, TEXT).data.format == "csv"
    assert _config(tmp_path).data.format == "image_manifest"


def test_label_folders_of_images_are_image_folders(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1.JPG").write_bytes(b"not decoded here")
    assert _config(tmp_path).data.format == "image_folders"


def test_the_patterns_extension_decides_and_tfrecord_stays_the_fallback(tmp_path: Path) -> None:
    assert _config(tmp_path, TEXT, train_pattern="train/*.csv", eval_pattern="eval/*.csv").data.format == "csv"
    (tmp_path / "part-0.tfrecord.gz").write_bytes(b"")
    assert _config(tmp_path).data.format == "tfrecord"
    assert _config(tmp_path / "nowhere").data.format == "tfrecord"


def test_a_format_in_the_config_wins(tmp_path: Path) -> None:
    (tmp_path / "messages.csv").write_text("text,label\nhello,greeting\n")
    assert _config(tmp_path, TEXT, format="tfrecord").data.format == "tfrecord"
    assert config_from_dict({}).data.format == "tfrecord"


def test_a_path_naming_one_file_reads_just_that_file(tmp_path: Path) -> None:
    (tmp_path / "messages [v2].csv").write_text("text,label\nhello,greeting\n")
    (tmp_path / "other.csv").write_text("text,label\nbye,farewell\n")
    data = _config(tmp_path / "messages [v2].csv", TEXT).data
    assert (data.path, data.format, data.input_patterns()) == (tmp_path, "csv", ["messages [[]v2].csv"])
    assert [path.name for path in tmp_path.glob(data.input_patterns()[0])] == ["messages [v2].csv"]


def test_a_file_path_with_patterns_is_refused_naming_both(tmp_path: Path) -> None:
    (tmp_path / "messages.csv").write_text("text,label\nhello,greeting\n")
    with pytest.raises(ConfigError, match=r"data.path names a file .*messages.csv.* patterns select files in a directory"):
        _config(tmp_path / "messages.csv", TEXT, pattern="*.csv")
