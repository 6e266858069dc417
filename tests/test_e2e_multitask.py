"""Several tasks on one backbone, end to end: after a single-task run, a run adds a second label column; it trains one
shared model per framework for both, gates each task (the single-task baseline, which cannot answer the new task, is
left out), pushes once, and the pushed model answers both tasks in one call; the summary, history and report show every task."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from digits_records import write_digit_records
from report_html import facts_of, parse_report, table_rows

pytestmark = pytest.mark.e2e
NAMES = {0: "zero", 1: "one", 2: "two", 3: "three"}
PARITY = {digit: "even" if digit % 2 == 0 else "odd" for digit in NAMES}
TASKS = ("label", "parity")


def _write_data(root: Path) -> None:
    for split, count, offset in (("train", 25, 0), ("eval", 12, 100)):
        write_digit_records(root / split / "data.tfrecord", dict.fromkeys(NAMES, count), NAMES, offset, {"parity": PARITY})


def _task_accuracies(summary: str, title: str) -> dict[str, float]:
    """Each task's eval accuracy in one framework's block of the run summary (`TensorFlow model:` ...)."""
    block = summary.split(f"{title}:\n", 1)[1].split("\n\S", 1)[0]
    found = re.findall(
        r"^  eval accuracy, task (\w+): ([\d.]+) \(no baseline: left out, the baseline model \S+ does not answer [^)]*\), gate minimum", block, re.M
    )
    return {task: float(value) for task, value in found}


def _config(path: Path, layout: ExampleLayout, labels: str) -> None:
    path.write_text(
        "pipeline_name: two-tasks\n"
        "trainer: both\n"
        "data: {path: data, train_pattern: 'train/*', eval_pattern: 'eval/*'}\n"
        f"backbone: {{handle: {layout.backbone_dir}, torch_checkpoint: {layout.torch_backbone_path}}}\n"
        f"task: {{labels: {labels}, loss_weights: {{label: 1.0}}}}\n"
        "training: {epochs: 8}\n"
        "evaluation: {min_accuracy: 0.3" + (", tasks: {parity: {min_accuracy: 0.55}}" if "parity" in labels else "") + "}\n"
    )


def test_adding_a_task_trains_one_model_per_framework_gated_per_task_pushed_once(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    _write_data(tmp_path / "data")
    _config(tmp_path / "single.yaml", digits_example, "[label]")
    first = run_cli("run", "--config", "single.yaml", "--output", "out", cwd=tmp_path)
    assert first.returncode == 0 and first.stdout.count("pushed model:") == 2, first.stderr[-3000:]

    _config(tmp_path / "config.yaml", digits_example, "[label, parity]")
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(r"^\[retrain\] Evaluator: the baseline model \S+ does not answer label, parity; evaluating without a baseline", run.stdout, re.M)
    assert "[retrain] TorchEvaluator: the baseline answers ['label'], not every task of the candidate" in run.stdout
    shown = {title: _task_accuracies(run.stdout, title) for title in ("TensorFlow model", "PyTorch model")}
    assert all(set(accuracies) == set(TASKS) for accuracies in shown.values()), run.stdout
    assert run.stdout.count("blessed: yes") == 2 and run.stdout.count("pushed model:") == 2, run.stdout

    serving = tmp_path / "out" / "serving"
    for title, model_dir in (("TensorFlow model", serving / "two-tasks"), ("PyTorch model", serving / "two-tasks-torch")):
        version = model_dir / "2"
        manifest = json.loads((version / "retrain_push.json").read_text())
        assert manifest["task_accuracies"] == pytest.approx(shown[title], abs=1e-4), "the pusher recorded every task"
        assert manifest["accuracy"] == pytest.approx(shown[title]["label"], abs=1e-4)

    served = tf.saved_model.load(str(serving / "two-tasks" / "2"))
    images = digits.select_digits(digits.load_digits_images(), (2, 3))
    outputs = served.signatures["serving_raw"](image=tf.constant([digits.encode_png(image) for image in images.images[:2]]))
    assert {f"probabilities__{task}" for task in TASKS} <= set(outputs), "one call answers every task"
    assert sorted(name.decode() for name in outputs["class_names__parity"].numpy()[0]) == ["even", "odd"]
    assert sorted(name.decode() for name in outputs["class_names__label"].numpy()[0]) == sorted(NAMES.values())
    torch_classes = json.loads((serving / "two-tasks-torch" / "2" / "task_labels.json").read_text())
    assert {task: sorted(classes) for task, classes in torch_classes.items()} == {"label": sorted(NAMES.values()), "parity": ["even", "odd"]}

    report = parse_report(tmp_path / "out" / "report.html")
    for task in TASKS:
        metrics = {row["metric"]: row for row in table_rows(report, f"overall-metrics-{task}")}
        assert float(metrics["sparse_categorical_accuracy"]["candidate"]) == pytest.approx(shown["TensorFlow model"][task], abs=1e-4)
        assert float(metrics["sparse_categorical_accuracy"]["pytorch candidate"]) == pytest.approx(shown["PyTorch model"][task], abs=1e-4)
        classes = {row["class"] for row in table_rows(report, f"per-class-{task}")}
        assert classes == (set(PARITY.values()) if task == "parity" else set(NAMES.values()))
    assert "; not compared: the baseline model" in facts_of(report, "verdict-facts-tensorflow")["baseline model"]
    gate = table_rows(report, "thresholds")
    assert all(row["result"] == "pass" for row in gate)
    assert {(row["model"], row["task"], row["condition"]) for row in gate if "minimum" in row["condition"]} == {
        (model, task, f">= {minimum} (minimum)")
        for model in ("candidate", "pytorch candidate")
        for task, minimum in (("label", "0.3000"), ("parity", "0.5500"))
    }

    history = run_cli("history", "--output", "out", cwd=tmp_path)
    assert history.returncode == 0 and f"{shown['TensorFlow model']['label']:.4f}" in history.stdout, history.stdout
