"""Schema drift against a pinned schema stops the run before training, with a readable summary."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

from retrain.components.data_gate.anomalies import describe_anomalies
from retrain.components.digits_example.prepare import ExampleLayout

PINNED_SCHEMA = """
feature { name: "image" type: BYTES presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
feature { name: "label" type: BYTES presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
"""


def _write(path: Path, records: list[dict[str, tf.train.Feature]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for feature in records:
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def test_describe_anomalies_names_features_and_reasons() -> None:
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["label"]
    info.reason.add(short_description="Column dropped")
    info.reason.add(short_description="Unexpected string values")
    assert describe_anomalies(anomalies) == ["feature 'label': Column dropped; Unexpected string values"]
    assert describe_anomalies(anomalies_pb2.Anomalies()) == []


@pytest.mark.e2e
def test_drift_from_pinned_schema_stops_before_training(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    good = [{"image": _bytes(b"\x89PNG"), "label": _bytes(b"cat")} for _ in range(20)]
    drifted = [{"image": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))} for _ in range(20)]
    _write(tmp_path / "data" / "part-0.tfrecord", good + drifted)
    (tmp_path / "schema.pbtxt").write_text(PINNED_SCHEMA)
    (tmp_path / "config.yaml").write_text(
        f"pipeline_name: drift\ndata: {{path: data, schema_file: schema.pbtxt}}\nbackbone: {{handle: {digits_example.backbone_dir}}}\n"
    )
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if line.startswith("retrain: error:")]
    assert "data does not match the schema" in error
    assert "feature 'image'" in error and "feature 'label'" in error
    assert "ImportSchemaGen done in" in run.stdout
    assert "[retrain] LabelPrep started" not in run.stdout and "[retrain] Trainer started" not in run.stdout
    assert not (tmp_path / "out" / "serving").exists()


def test_unreadable_pinned_schema_is_a_config_error(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "schema.pbtxt").write_text("feature { name: ")
    (tmp_path / "config.yaml").write_text(f"data: {{path: data, schema_file: schema.pbtxt}}\nbackbone: {{handle: {digits_example.backbone_dir}}}\n")
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 2
    assert "data.schema_file: not a TFDV schema text proto" in run.stderr
