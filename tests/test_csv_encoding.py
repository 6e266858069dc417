"""CSV files that are not UTF-8: one line naming the file and line, or `data.encoding` and a staged UTF-8 copy CsvExampleGen ingests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tensorflow as tf
import yaml
from tfx import v1 as tfx

from retrain.pipelines.cli import main
from retrain.pipelines.config import ConfigError, config_from_dict
from retrain.pipelines.csv_staging import STAGED_DATA_DIR, require_utf8_for_kubeflow, stage_as_utf8
from retrain.pipelines.preflight import InputError

ROWS = [("café crème", "drinks"), ("naïve façade", "words"), ("Ångström ß", "words"), ("plain", "drinks")]


def _write_csv(path: Path, encoding: str, rows: list[tuple[str, str]] = ROWS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("text,label\n".encode(encoding) + "".join(f"{text},{label}\n" for text, label in rows).encode(encoding))
    return path


def _config(tmp_path: Path, **data: object) -> dict:
    (tmp_path / "backbone").mkdir(exist_ok=True)
    (tmp_path / "backbone" / "saved_model.pb").write_bytes(b"")
    return {
        "pipeline_name": "csv-encoding",
        "task": {"type": "text_classification"},
        "data": {"path": str(tmp_path / "data"), "format": "csv", **data},
        "backbone": {"handle": str(tmp_path / "backbone")},
    }


def test_latin1_csv_without_the_option_is_one_line_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_csv(tmp_path / "data" / "a.csv", "utf-8")
    latin1 = _write_csv(tmp_path / "data" / "b.csv", "latin-1")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path)))
    assert main(["run", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"retrain: error: data: {latin1} line 2 is not utf-8 text (invalid continuation byte at byte 0xe9); "
        "set data.encoding to the files' encoding (e.g. latin-1)"
    ]
    assert not (tmp_path / "out").exists()


def test_encoding_option_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"^data.encoding: unknown text encoding 'latin-42'"):
        config_from_dict(
            {"data": {"path": "/d", "format": "csv", "encoding": "latin-42"}, "task": {"type": "text_classification"}, "backbone": {"handle": "/b"}}
        )
    with pytest.raises(ConfigError, match="data.encoding applies to data.format csv only"):
        config_from_dict({"data": {"path": "/d", "encoding": "latin-1"}, "backbone": {"handle": "/b"}})


def test_staged_copy_is_utf8_with_the_same_times_and_kept_in_step(tmp_path: Path) -> None:
    source = _write_csv(tmp_path / "data" / "span-1" / "part.csv", "latin-1")
    os.utime(source, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    config = config_from_dict(_config(tmp_path, encoding="latin-1", pattern="span-{SPAN}/*.csv"))
    staged = stage_as_utf8(config, tmp_path / "out")
    copy = staged.data.path / "span-1" / "part.csv"
    assert staged.data.path.parent == tmp_path / "out" / STAGED_DATA_DIR and staged.data.encoding == "utf-8"
    assert copy.read_text(encoding="utf-8") == source.read_bytes().decode("latin-1")
    assert copy.stat().st_mtime_ns == source.stat().st_mtime_ns  # ExampleGen's fingerprint of the copy follows the source

    inode = copy.stat().st_ino
    assert stage_as_utf8(config, tmp_path / "out") == staged and copy.stat().st_ino == inode  # unchanged source: not rewritten
    _write_csv(source, "latin-1", ROWS[:2])
    stage_as_utf8(config, tmp_path / "out")
    assert copy.read_text(encoding="utf-8").count("\n") == 3
    source.unlink()
    _write_csv(tmp_path / "data" / "span-2" / "part.csv", "latin-1")
    stage_as_utf8(config, tmp_path / "out")
    assert sorted(p.relative_to(staged.data.path).as_posix() for p in staged.data.path.rglob("*.csv")) == ["span-2/part.csv"]


def test_undecodable_source_stages_nothing_half_written(tmp_path: Path) -> None:
    _write_csv(tmp_path / "data" / "a.csv", "ascii", [("plain", "drinks")])
    _write_csv(tmp_path / "data" / "b.csv", "utf-8")
    config = config_from_dict(_config(tmp_path, encoding="ascii"))
    with pytest.raises(InputError, match=r"b.csv line 2 is not ascii text \(ordinal not in range\(128\) at byte 0xc3\)"):
        stage_as_utf8(config, tmp_path / "out")
    assert not [path for path in (tmp_path / "out").rglob("*") if path.is_file()]


def test_kubeflow_refuses_an_encoding_it_cannot_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = _config(tmp_path, encoding="latin-1")
    with pytest.raises(ConfigError, match=r"^data.encoding: latin-1 is applied by `retrain run` only"):
        require_utf8_for_kubeflow(config_from_dict(raw))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["compile", "--config", str(config), "--output", str(tmp_path / "pipeline.yaml")]) == 2
    assert "data.encoding: latin-1 is applied by `retrain run` only" in capsys.readouterr().err
    assert not (tmp_path / "pipeline.yaml").exists()


def test_csv_example_gen_ingests_the_staged_latin1_data(tmp_path: Path) -> None:
    _write_csv(tmp_path / "data" / "part.csv", "latin-1")
    staged = stage_as_utf8(config_from_dict(_config(tmp_path, encoding="latin-1")), tmp_path / "out")
    example_gen = tfx.components.CsvExampleGen(input_base=str(staged.data.path))
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="csv-encoding", pipeline_root=str(tmp_path / "root"), components=[example_gen], metadata_connection_config=metadata
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)

    files = [str(file) for file in (tmp_path / "root" / "CsvExampleGen" / "examples").rglob("data_tfrecord-*.gz")]
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    examples = [tf.train.Example.FromString(record.numpy()) for record in records]
    assert {example.features.feature["text"].bytes_list.value[0].decode("utf-8") for example in examples} == {text for text, _ in ROWS}
