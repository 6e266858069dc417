"""The whole local pipeline on the built-in example, as a user runs it: `retrain run`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.run_summary import open_store

pytestmark = pytest.mark.e2e
MIN_ACCURACY = RetrainConfig().evaluation.min_accuracy


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def first_run(workdir: Path, run_cli):
    return run_cli("run", "--output", "out", cwd=workdir)


def _versions(workdir: Path) -> list[str]:
    serving = workdir / "out" / "serving" / "digits"
    return sorted(p.name for p in serving.iterdir()) if serving.exists() else []


def _blessings(workdir: Path) -> list[int]:
    store = open_store(workdir / "out" / "metadata.sqlite")
    return [a.custom_properties["blessed"].int_value for a in store.get_artifacts_by_type("ModelBlessing")]


def _eval_examples(workdir: Path) -> list[bytes]:
    files = sorted((workdir / "out" / "examples" / "digits" / "data" / "eval").glob("*.tfrecord"))
    return [record.numpy() for record in tf.data.TFRecordDataset([str(f) for f in files])]


def test_first_run_blesses_and_pushes_one_version(workdir: Path, first_run) -> None:
    assert first_run.returncode == 0, first_run.stderr[-3000:]
    out = first_run.stdout
    assert "[retrain] Trainer started" in out and re.search(r"\[retrain\] Trainer done in [\d.]+s\n", out)
    assert re.search(r"Epoch 1/\d+", out), "Keras progress is shown"
    accuracy = float(re.search(r"eval accuracy: ([\d.]+)", out).group(1))
    assert accuracy >= MIN_ACCURACY
    assert "blessed: yes" in out
    assert f"pushed model: {workdir / 'out' / 'serving' / 'digits' / '1'} (version 1)" in out
    assert _versions(workdir) == ["1"]
    assert _blessings(workdir) == [1]


def test_pushed_model_serves_class_names_and_probabilities(workdir: Path, first_run) -> None:
    assert first_run.returncode == 0
    model = tf.saved_model.load(str(workdir / "out" / "serving" / "digits" / "1"))
    examples = _eval_examples(workdir)
    outputs = model.signatures["serving_default"](examples=tf.constant(examples))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(examples), 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    class_names = [name.decode() for name in outputs["class_names"].numpy()[0]]
    assert sorted(class_names) == ["5", "6", "7", "8", "9"]
    predicted = [name.decode() for name in outputs["predicted_class"].numpy()]
    assert predicted == [class_names[i] for i in probabilities.argmax(axis=1)]

    labels = [tf.train.Example.FromString(e).features.feature["label"].bytes_list.value[0].decode() for e in examples]
    served_accuracy = np.mean([p == label for p, label in zip(predicted, labels)])
    assert served_accuracy >= MIN_ACCURACY

    image = digits.select_digits(digits.load_digits_images(), (7,)).images[0]
    raw = model.signatures["serving_raw"](image=tf.constant([digits.encode_png(image)]))
    assert raw["probabilities"].shape == (1, 5)
    assert raw["predicted_class"].numpy()[0].decode() in class_names


def test_rerun_on_unchanged_data_is_cached_and_pushes_nothing(workdir: Path, first_run, run_cli) -> None:
    assert first_run.returncode == 0
    second = run_cli("run", "--output", "out", cwd=workdir)
    assert second.returncode == 0, second.stderr[-3000:]
    for node in ("ImportExampleGen", "LabelPrep", "LabelMappedTransform", "Trainer", "Evaluator", "VersionedPusher"):
        assert re.search(rf"\[retrain\] {node} done in [\d.]+s \(cached\)", second.stdout), f"{node} was not cached"
    assert "nothing new pushed: inputs unchanged since the run that pushed version 1" in second.stdout
    assert _versions(workdir) == ["1"]


def test_failed_gate_reports_why_and_pushes_nothing(workdir: Path, first_run, run_cli) -> None:
    assert first_run.returncode == 0
    strict = workdir / "strict.yaml"
    strict.write_text("evaluation:\n  min_accuracy: 0.999\n")
    run = run_cli("run", "--config", str(strict), "--output", "out", "--runner", "local", cwd=workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "blessed: no" in run.stdout
    assert re.search(r"gate failed: sparse_categorical_accuracy [\d.]+ is below the minimum 0\.9990", run.stdout)
    assert "nothing pushed: not blessed by the Evaluator" in run.stdout
    assert _versions(workdir) == ["1"]


def test_pipeline_failure_exits_1_with_one_line(tmp_path: Path, workdir: Path, first_run, run_cli) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with tf.io.TFRecordWriter(str(data / "part.tfrecord")) as writer:
        for label in ("a", "b") * 10:
            feature = {
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"definitely not an image"])),
                "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    config = tmp_path / "config.yaml"
    backbone = workdir / "out" / "examples" / "digits" / "backbone"
    config.write_text(f"pipeline_name: broken\ndata: {{path: {data}}}\nbackbone: {{handle: {backbone}}}\n")
    run = run_cli("run", "--config", str(config), "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("retrain: error:")]
    assert len(errors) == 1 and "pipeline failed:" in errors[0]
    assert not (tmp_path / "out" / "serving").exists()


def _evaluator_inputs(workdir: Path) -> dict[str, list]:
    """The TF Evaluator's recorded inputs of the first run, as TFX artifacts, by input key."""
    from tfx.types import artifact_utils

    store = open_store(workdir / "out" / "metadata.sqlite")
    execution = next(e for e in store.get_executions() if e.type.endswith(".Evaluator") and "Torch" not in e.type)
    types = {t.id: t for t in store.get_artifact_types()}
    inputs: dict[str, list] = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type == event.INPUT:
            [artifact] = store.get_artifacts_by_id([event.artifact_id])
            inputs.setdefault(event.path.steps[0].key, []).append(artifact_utils.deserialize_artifact(types[artifact.type_id], artifact))
    return inputs


def test_evaluator_reports_examples_rate_and_eta(
    workdir: Path, first_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from google.protobuf import json_format
    from tfx.types import standard_artifacts

    from retrain.components.evaluator_progress.component import EXTRACTORS_MODULE
    from retrain.components.evaluator_progress.executor import Executor, count_records
    from retrain.components.training_core import progress
    from retrain.pipelines.pipeline import eval_config_for

    assert first_run.returncode == 0
    inputs = _evaluator_inputs(workdir)
    total = count_records([inputs["examples"][0].uri + "/Split-eval"])
    assert total == len(_eval_examples(workdir)) > 0
    outputs = {"evaluation": [standard_artifacts.ModelEvaluation()], "blessing": [standard_artifacts.ModelBlessing()]}
    for key, [artifact] in outputs.items():
        artifact.uri = str(tmp_path / key)
    properties = {
        "eval_config": json_format.MessageToJson(eval_config_for(RetrainConfig())),
        "example_splits": '["eval"]',
        "module_path": EXTRACTORS_MODULE,
    }
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    Executor().Do({"examples": inputs["examples"], "model": inputs["model"]}, outputs, properties)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[retrain] Evaluator: ")]
    assert lines, "no progress line"
    assert re.fullmatch(rf"\[retrain\] Evaluator: {total}/{total} examples, [\d.e+]+ examples/s, ETA 0s", lines[-1])
    assert (tmp_path / "blessing" / "BLESSED").exists()
