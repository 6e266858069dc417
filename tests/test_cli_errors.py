"""Bad input: exit 2 with one readable line, and nothing written to the push destination."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from retrain.components.digits_example.prepare import ExampleLayout
from retrain.pipelines.cli import main
from retrain.pipelines.progress import ComponentProgressHandler, error_line, failure_line


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


def _in_the_way(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a directory\n")
    return path


@pytest.mark.parametrize(
    "setting, sections, blocked, expected",
    [
        ("--output", {}, "out", "--output: not a directory (a file is in the way): {tmp}/out"),
        ("--output", {}, "out/examples", "--output: not a directory (a file is in the way): {tmp}/out/examples"),
        (
            "runner.pipeline_root",
            {"runner": {"pipeline_root": "file/root"}},
            "file",
            "runner.pipeline_root: cannot create {tmp}/file/root: {tmp}/file is not a directory",
        ),
        ("runner.pipeline_root", {}, "out/pipeline_root", "runner.pipeline_root: not a directory (a file is in the way): {tmp}/out/pipeline_root"),
        (
            "push.destination",
            {"push": {"destination": "models"}},
            "models",
            "push.destination: cannot create {tmp}/models/digits: {tmp}/models is not a directory",
        ),
        (
            "push.destination",
            {"push": {"destination": "models"}},
            "models/digits",
            "push.destination: not a directory (a file is in the way): {tmp}/models/digits",
        ),
        (
            "runner.metadata_path",
            {"runner": {"metadata_path": "meta/store.sqlite"}},
            "meta",
            "runner.metadata_path: not a directory (a file is in the way): {tmp}/meta",
        ),
    ],
)
def test_unwritable_locations_fail_before_anything_runs(
    tmp_path: Path, setting: str, sections: dict, blocked: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path, **sections)
    in_the_way = _in_the_way(tmp_path / blocked)
    before = sorted(tmp_path.rglob("*"))
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"retrain: error: {expected.format(tmp=tmp_path)}"]
    assert sorted(tmp_path.rglob("*")) == before and in_the_way.read_text() == "not a directory\n"


def test_metadata_path_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out" / "metadata.sqlite").mkdir(parents=True)
    assert main(["run", "--output", str(tmp_path / "out")]) == 2
    expected = f"retrain: error: runner.metadata_path: a directory is in the way of the file: {tmp_path / 'out' / 'metadata.sqlite'}"
    assert capsys.readouterr().err.strip().splitlines() == [expected]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o555)
    try:
        assert main(["run", "--output", str(tmp_path / "out")]) == 2
    finally:
        (tmp_path / "out").chmod(0o755)
    assert capsys.readouterr().err.strip().splitlines() == [f"retrain: error: --output: directory not writable: {tmp_path / 'out'}"]


def _corrupt_second_file(tmp_path: Path) -> Path:
    """A config whose preflight passes (first file fine, backbone present) and whose ImportExampleGen fails."""
    _write_examples(tmp_path / "data" / "a.tfrecord", {"image": b"png", "label": b"a"})
    (tmp_path / "data" / "b.tfrecord").write_bytes(b"not a TFRecord file " * 8)
    (tmp_path / "backbone").mkdir()
    (tmp_path / "backbone" / "saved_model.pb").write_bytes(b"")  # never loaded: the run stops before Transform
    return _write_config(tmp_path, pipeline_name="broken", data={"path": "data"}, backbone={"handle": "backbone"})


@pytest.mark.e2e
def test_failing_step_is_one_line_naming_it(tmp_path: Path, run_cli) -> None:
    config = _corrupt_second_file(tmp_path)
    run = run_cli("run", "--config", str(config), "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "retrain: error: pipeline failed: step ImportExampleGen: ValueError: Not a valid TFRecord. "
        "Mismatch of length mask: b'6e6f7420612054465265636f'"
    ], run.stderr
    assert "Traceback" not in run.stdout and not (tmp_path / "out" / "serving").exists()


def test_failure_line_names_the_step_that_was_running() -> None:
    handler = ComponentProgressHandler(io.StringIO())
    for message in ("node ImportExampleGen is running.", "node ImportExampleGen is finished.", "node Trainer is running."):
        handler.emit(logging.LogRecord("absl", logging.INFO, __file__, 0, message, None, None))
    error = ValueError("Trainer: the head diverged\n  details on a second line [while running 'Run[Trainer]']")
    assert failure_line(error, handler.running) == "pipeline failed: step Trainer: ValueError: Trainer: the head diverged"
    assert failure_line(KeyError("k"), None) == "pipeline failed: KeyError: 'k'"
    assert error_line(RuntimeError("bad row [while running 'Run[CsvExampleGen]']")) == "RuntimeError: bad row"
