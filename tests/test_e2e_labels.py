"""Label ids stay stable across scheduled retraining: two pipeline runs, the second adds a class."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.label_prep.label_map import load_label_map
from digits_records import write_digit_records
from retrain.pipelines.run_summary import open_store

pytestmark = pytest.mark.e2e
NAMES = {5: "five", 6: "six", 7: "seven", 8: "eight"}


def _write_data(root: Path, train: dict[int, int], evaluation: dict[int, int]) -> None:
    write_digit_records(root / "train" / "data.tfrecord", train, NAMES, offset=0)
    write_digit_records(root / "eval" / "data.tfrecord", evaluation, NAMES, offset=100)


def _config(path: Path, backbone: Path, extra: str = "") -> Path:
    path.write_text(
        "pipeline_name: stable-labels\n"
        "data: {path: data, train_pattern: 'train/*', eval_pattern: 'eval/*'}\n"
        f"backbone: {{handle: {backbone}}}\n"
        "training: {epochs: 5, mode: incremental, fine_tune_epochs: 2, unfreeze_blocks: 1}\n"
        "evaluation: {min_accuracy: 0.0, max_accuracy_drop: 1.0}\n"
        "push: {model_name: stable}\n" + extra
    )
    return path


def _label_maps(metadata: Path) -> list:
    store = open_store(metadata)
    return [load_label_map(a.uri) for a in sorted(store.get_artifacts_by_type("retrain.LabelMap"), key=lambda a: a.id)]


def test_second_run_keeps_old_ids_and_appends_the_new_class(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    config = _config(tmp_path / "config.yaml", digits_example.backbone_dir)
    _write_data(tmp_path / "data", train={5: 15, 6: 15, 7: 15}, evaluation={5: 10, 6: 10, 7: 10})
    first = run_cli("run", "--config", str(config), "--output", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "pushed model:" in first.stdout

    _write_data(tmp_path / "data", train={5: 30, 6: 5, 7: 15, 8: 15}, evaluation={5: 10, 6: 10, 7: 10, 8: 10})
    second = run_cli("run", "--config", str(config), "--output", "out", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "variables restored, 2 expanded for new classes" in second.stdout, "warm start from the blessed model"

    before, after = _label_maps(tmp_path / "out" / "metadata.sqlite")
    assert before.labels == ["five", "seven", "six"]
    assert after.labels == ["five", "seven", "six", "eight"], "old ids kept, new class appended (not re-sorted)"
    assert after.new_labels == ["eight"]
    assert after.counts["train"] == {"eight": 15, "five": 30, "seven": 15, "six": 5}
    weights = dict(zip(after.labels, after.class_weights))
    assert weights["six"] > weights["seven"] > weights["five"]

    served = tf.saved_model.load(str(tmp_path / "out" / "serving" / "stable" / "2"))
    image = digits.select_digits(digits.load_digits_images(), (8,)).images[0]
    outputs = served.signatures["serving_raw"](image=tf.constant([digits.encode_png(image)]))
    assert [n.decode() for n in outputs["class_names"].numpy()[0]] == after.labels


def test_label_problems_stop_the_run_before_training(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    config = _config(tmp_path / "config.yaml", digits_example.backbone_dir, "labels: {min_examples_per_class: 10}\n")
    _write_data(tmp_path / "data", train={5: 15, 6: 3, 7: 15}, evaluation={5: 5, 6: 5, 7: 5, 8: 2})
    run = run_cli("run", "--config", str(config), "--output", "out", cwd=tmp_path)
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if line.startswith("retrain: error:")]
    assert "LabelPrep: 2 label problem(s)" in error
    assert "1 class(es) with fewer than 10 train examples: 'six' (3)" in error
    assert "1 label(s) in split 'eval' never seen in train: 'eight' (2)" in error
    assert "[retrain] Trainer started" not in run.stdout
    assert not (tmp_path / "out" / "serving").exists()
