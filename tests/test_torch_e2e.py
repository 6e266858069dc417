"""`trainer: both` then a worse PyTorch model on the same store: parity of gate, summary and pushes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import torch

from retrain.components.digits_example.prepare import ExampleLayout
from retrain.pipelines.run_summary import open_store

pytestmark = pytest.mark.e2e
EPOCHS = 50
MIN_ACCURACY = 0.7  # both trainers reach about 0.8-0.88 in 50 epochs; the gate's change threshold is what is tested


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("torch_e2e")


def _config(example: ExampleLayout, data_dir: Path, **overrides) -> dict:
    """The built-in example's settings on `data_dir`, with the session's prepared backbones (no pretraining here)."""
    return {
        "data": {"path": str(data_dir), "train_pattern": example.train_pattern, "eval_pattern": example.eval_pattern},
        "backbone": {"handle": str(example.backbone_dir), "torch_checkpoint": str(example.torch_backbone_path)},
        "push": {"model_name": "digits"},
        "evaluation": {"min_accuracy": MIN_ACCURACY},
        **overrides,
    }


@pytest.fixture(scope="module")
def both_run(workdir: Path, digits_example: ExampleLayout, run_cli):
    config = _config(digits_example, digits_example.data_dir, trainer="both", training={"epochs": EPOCHS})
    (workdir / "both.json").write_text(json.dumps(config))
    return run_cli("run", "--config", "both.json", "--output", "out", cwd=workdir)


def _shuffled_copy(source: Path, target: Path, seed: int = 0) -> None:
    """The example's data with the train labels permuted (eval untouched)."""
    shutil.copytree(source / "eval", target / "eval")
    records = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(sorted(str(p) for p in (source / "train").glob("*.tfrecord")))]
    labels = [list(r.features.feature["label"].bytes_list.value) for r in records]
    permutation = np.random.RandomState(seed).permutation(len(records))
    (target / "train").mkdir(parents=True)
    with tf.io.TFRecordWriter(str(target / "train" / "shuffled.tfrecord")) as writer:
        for record, index in zip(records, permutation):
            record.features.feature["label"].bytes_list.value[:] = labels[index]
            writer.write(record.SerializeToString())


@pytest.fixture(scope="module")
def shuffled_torch_run(workdir: Path, digits_example: ExampleLayout, both_run, run_cli):
    assert both_run.returncode == 0, both_run.stderr[-3000:]
    _shuffled_copy(digits_example.data_dir, workdir / "shuffled")
    config = _config(digits_example, workdir / "shuffled", trainer="torch", training={"epochs": EPOCHS, "warm_start": False})
    (workdir / "shuffled.json").write_text(json.dumps(config))
    return run_cli("run", "--config", "shuffled.json", "--output", "out", cwd=workdir)


def _versions(workdir: Path, name: str) -> list[str]:
    serving = workdir / "out" / "serving" / name
    return sorted(p.name for p in serving.iterdir()) if serving.exists() else []


def test_both_trainers_are_gated_pushed_and_compared(workdir: Path, both_run) -> None:
    assert both_run.returncode == 0, both_run.stderr[-3000:]
    out = both_run.stdout
    assert "[retrain] TorchTrainer done" in out and "[retrain] TorchEvaluator done" in out
    tf_part, torch_part = out.split("PyTorch model:")
    assert "blessed: yes" in tf_part and "blessed: yes" in torch_part
    assert f"pushed model: {workdir / 'out' / 'serving' / 'digits' / '1'} (version 1)" in tf_part
    assert f"pushed model: {workdir / 'out' / 'serving' / 'digits-torch' / '1'} (version 1)" in torch_part
    comparison = re.search(r"eval accuracy, TensorFlow vs\. PyTorch: ([\d.]+) vs\. ([\d.]+) \(([-+][\d.]+) points\)", out)
    assert comparison, out[-2000:]
    tf_accuracy, torch_accuracy = float(comparison.group(1)), float(comparison.group(2))
    assert min(tf_accuracy, torch_accuracy) >= MIN_ACCURACY
    store = open_store(workdir / "out" / "metadata.sqlite")
    frameworks = sorted(
        m.custom_properties["framework"].string_value if "framework" in m.custom_properties else "tensorflow"
        for m in store.get_artifacts_by_type("Model")
    )
    assert frameworks == ["pytorch", "tensorflow"]
    report = (workdir / "out" / "report.html").read_text()
    assert "pytorch candidate" in report, "the report shows the PyTorch model beside the TF one"


def test_pushed_torch_model_serves_probabilities_with_label_names(workdir: Path, both_run) -> None:
    pushed = workdir / "out" / "serving" / "digits-torch" / "1"
    model = torch.jit.load(str(pushed / "model.pt"))
    labels = json.loads((pushed / "labels.json").read_text())
    assert labels == ["5", "6", "7", "8", "9"]
    probabilities = model(torch.rand(3, 8, 8, 1))
    assert probabilities.shape == (3, 5)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(3))


def test_worse_torch_model_is_not_blessed_nor_pushed(workdir: Path, shuffled_torch_run) -> None:
    assert shuffled_torch_run.returncode == 0, shuffled_torch_run.stderr[-3000:]
    out = shuffled_torch_run.stdout
    torch_part = out.split("PyTorch model:")[1]
    assert "blessed: no" in torch_part
    assert re.search(r"eval accuracy: [\d.]+ \(baseline [\d.]+\)", torch_part), "compared with the blessed PyTorch model"
    assert "gate failed: sparse_categorical_accuracy changed by -" in torch_part
    assert "nothing pushed: not blessed by the Evaluator" in torch_part
    assert _versions(workdir, "digits-torch") == ["1"] and _versions(workdir, "digits") == ["1"]


def _verdict_facts(html: Path, framework: str) -> dict[str, str]:
    from lxml import etree

    root = etree.fromstring(html.read_bytes(), etree.XMLParser(recover=False, no_network=True))
    rows = root.xpath(f"//table[@id='verdict-facts-{framework}']/tbody/tr")
    return {" ".join("".join(row[0].itertext()).split()): " ".join("".join(row[1].itertext()).split()) for row in rows}


def test_report_verdict_covers_each_framework_as_the_summary_does(workdir: Path, both_run, shuffled_torch_run, tmp_path: Path) -> None:
    from retrain.pipelines.report.build import write_report

    metadata = workdir / "out" / "metadata.sqlite"
    first_run = min(open_store(metadata).get_contexts_by_type("pipeline_run"), key=lambda c: (c.create_time_since_epoch, c.id)).name
    both_html = write_report(metadata, tmp_path / "both.html", run_id=first_run)
    for framework, model_name in (("tensorflow", "digits"), ("pytorch", "digits-torch")):
        facts = _verdict_facts(both_html, framework)
        assert facts["blessed"] == "yes" and facts["pushed model"] == f"{workdir / 'out' / 'serving' / model_name / '1'} (version 1)"
        assert facts["eval accuracy"].endswith(f"gate minimum {MIN_ACCURACY:.4f}")
        lines = [f"  {label}: {value}" for label, value in facts.items() if label != "baseline model"]
        assert all(line in both_run.stdout.splitlines() for line in lines), (lines, both_run.stdout[-1500:])

    torch_only = _verdict_facts(workdir / "out" / "report.html", "pytorch")  # the shuffled `trainer: torch` run
    assert not _verdict_facts(workdir / "out" / "report.html", "tensorflow")
    assert torch_only["blessed"] == "no" and torch_only["nothing pushed"] == "not blessed by the Evaluator"
    assert torch_only["baseline model"].endswith("pushed as version 1")
    assert f"  eval accuracy: {torch_only['eval accuracy']}" in shuffled_torch_run.stdout.splitlines()


def test_history_shows_each_framework_of_a_run(workdir: Path, both_run, shuffled_torch_run, run_cli) -> None:
    history = run_cli("history", "--output", "out", cwd=workdir)
    assert history.returncode == 0, history.stderr[-2000:]
    header, *rows = (re.split(r"\s{2,}", line) for line in history.stdout.strip().splitlines())
    columns = [dict(zip(header, row)) for row in rows]
    assert [row["trainer"] for row in columns] == ["tensorflow+pytorch", "pytorch"]
    both_accuracies = re.search(r"([\d.]+) vs\. ([\d.]+) \(", both_run.stdout).groups()
    assert columns[0]["accuracy"] == "/".join(f"{float(value):.4f}" for value in both_accuracies)
    assert (columns[0]["blessed"], columns[0]["pushed"]) == ("yes/yes", "1/1")
    assert columns[1]["blessed"] == "no" and columns[1]["pushed"] == "-" and columns[1]["accuracy"] != "-"
