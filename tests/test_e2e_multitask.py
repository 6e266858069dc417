"""Several tasks on one backbone, end to end: one run trains one shared model for two label columns, gates each task,
pushes once, and the pushed model answers both tasks in one call; the summary, history and report show every task."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from digits_records import write_digit_records
from report_html import parse_report, table_rows

pytestmark = pytest.mark.e2e
NAMES = {0: "zero", 1: "one", 2: "two", 3: "three"}
PARITY = {digit: "even" if digit % 2 == 0 else "odd" for digit in NAMES}
TASKS = ("label", "parity")


def _write_data(root: Path) -> None:
    for split, count, offset in (("train", 25, 0), ("eval", 12, 100)):
        write_digit_records(root / split / "data.tfrecord", dict.fromkeys(NAMES, count), NAMES, offset, {"parity": PARITY})


def test_two_tasks_train_one_model_gated_per_task_pushed_once(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    _write_data(tmp_path / "data")
    (tmp_path / "config.yaml").write_text(
        "pipeline_name: two-tasks\n"
        "data: {path: data, train_pattern: 'train/*', eval_pattern: 'eval/*'}\n"
        f"backbone: {{handle: {digits_example.backbone_dir}}}\n"
        "task: {labels: [label, parity], loss_weights: {label: 1.0, parity: 0.5}}\n"
        "training: {epochs: 8}\n"
        "evaluation: {min_accuracy: 0.3, tasks: {parity: {min_accuracy: 0.55}}}\n"
    )
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    shown = {match[0]: float(match[1]) for match in re.findall(r"eval accuracy, task (\w+): ([\d.]+) \(no baseline[^)]*\), gate minimum", run.stdout)}
    assert set(shown) == set(TASKS), run.stdout
    assert "blessed: yes" in run.stdout and "pushed model:" in run.stdout

    [version] = [path for path in (tmp_path / "out" / "serving" / "two-tasks").iterdir() if path.name.isdigit()]
    manifest = json.loads((version / "retrain_push.json").read_text())
    assert manifest["task_accuracies"] == pytest.approx(shown, abs=1e-4) and manifest["accuracy"] == pytest.approx(shown["label"], abs=1e-4)

    served = tf.saved_model.load(str(version))
    images = digits.select_digits(digits.load_digits_images(), (2, 3))
    outputs = served.signatures["serving_raw"](image=tf.constant([digits.encode_png(image) for image in images.images[:2]]))
    assert {f"probabilities__{task}" for task in TASKS} <= set(outputs), "one call answers every task"
    assert sorted(name.decode() for name in outputs["class_names__parity"].numpy()[0]) == ["even", "odd"]
    assert sorted(name.decode() for name in outputs["class_names__label"].numpy()[0]) == sorted(NAMES.values())

    report = parse_report(tmp_path / "out" / "report.html")
    for task in TASKS:
        metrics = {row["metric"]: row for row in table_rows(report, f"overall-metrics-{task}")}
        assert float(metrics["sparse_categorical_accuracy"]["candidate"]) == pytest.approx(shown[task], abs=1e-4)
        classes = {row["class"] for row in table_rows(report, f"per-class-{task}")}
        assert classes == (set(PARITY.values()) if task == "parity" else set(NAMES.values()))
    gate = table_rows(report, "thresholds")
    assert {row["task"] for row in gate} == set(TASKS) and all(row["result"] == "pass" for row in gate)
    assert {(row["task"], row["condition"]) for row in gate if "minimum" in row["condition"]} == {
        ("label", ">= 0.3000 (minimum)"),
        ("parity", ">= 0.5500 (minimum)"),
    }

    history = run_cli("history", "--output", "out", cwd=tmp_path)
    assert history.returncode == 0 and f"{shown['label']:.4f}" in history.stdout, history.stdout
