"""The run report and run history, checked against what ML Metadata and TFMA hold for two real runs."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2

from retrain.components.label_prep.label_map import load_label_map
from retrain.pipelines import cli
from retrain.pipelines.run_summary import open_store
from report_html import facts_of, parse_report, table_rows, text_of

pytestmark = pytest.mark.e2e
ACCURACY = "sparse_categorical_accuracy"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def runs(workdir: Path, run_cli, seed_digits_example):
    """A blessed first run (its report kept as first.html), its fully cached re-run, then a model the strict gate rejects."""
    seed_digits_example(workdir / "out")
    (workdir / "config.yaml").write_text("training: {epochs: 20}\nevaluation: {min_accuracy: 0.5}\n")
    (workdir / "strict.yaml").write_text("training: {epochs: 20, seed: 7}\nevaluation: {min_accuracy: 0.999}\n")
    completed = []
    for config in ("config.yaml", "config.yaml", "strict.yaml"):
        completed.append(run_cli("run", "--output", "out", "--config", config, cwd=workdir))
        assert completed[-1].returncode == 0, completed[-1].stderr[-3000:]
        if len(completed) == 1:
            shutil.copy(workdir / "out" / "report.html", workdir / "first.html")
    return completed


def _store(workdir: Path):
    return open_store(workdir / "out" / "metadata.sqlite")


def _artifacts(workdir: Path, type_name: str) -> list:
    return sorted(_store(workdir).get_artifacts_by_type(type_name), key=lambda artifact: artifact.id)


def _tfma_metrics(evaluation_uri: str) -> dict[tuple[str, str, bool], float]:
    [overall] = [m for m in tfma.load_metrics(evaluation_uri) if not m.slice_key.single_slice_keys]
    return {(e.key.model_name, e.key.name, e.key.is_diff): e.value.double_value.value for e in overall.metric_keys_and_values}


def _assert_summary_says(stdout: str, facts: dict[str, str]) -> None:
    """The `retrain run` summary prints each verdict fact of the report (the baseline model is the report's own)."""
    lines = stdout.splitlines()
    for label, value in facts.items():
        if label != "baseline model":
            assert f"{label}: {value}" in lines, (label, value, stdout[-1500:])


def _run_ids(workdir: Path) -> list[str]:
    store = _store(workdir)
    contexts = store.get_contexts_by_type("pipeline_run")
    return [context.name for context in sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id))]


def test_run_prints_the_report_path(workdir: Path, runs) -> None:
    for run in runs:
        assert run.stdout.rstrip().splitlines()[-1] == f"report: {workdir / 'out' / 'report.html'}"


def test_report_of_a_blessed_run_matches_mlmd_and_tfma(workdir: Path, runs) -> None:
    root = parse_report(workdir / "first.html")
    evaluation = _artifacts(workdir, "ModelEvaluation")[0].uri
    metrics = _tfma_metrics(evaluation)
    accuracy, count = metrics[("", ACCURACY, False)], metrics[("", "example_count", False)]
    [push] = [p for p in _artifacts(workdir, "PushedModel") if p.custom_properties["pushed"].int_value]
    version = push.custom_properties["pushed_version"].string_value
    destination = push.custom_properties["pushed_destination"].string_value

    headline = text_of(root.xpath("//p[@id='headline-tensorflow']")[0])
    assert headline == f"Blessed and pushed as version {version} to {destination}"
    assert root.xpath("//div[@class='framework']/@id") == ["verdict-tensorflow"], "trainer: tf has one model"
    facts = facts_of(root, "verdict-facts-tensorflow")
    assert facts == {
        "eval accuracy": f"{accuracy:.4f} (no baseline: no other blessed model yet), gate minimum 0.5000",
        "blessed": "yes",
        "pushed model": f"{destination} (version {version})",
        "baseline model": "none (no other blessed model yet)",
    }
    _assert_summary_says(runs[0].stdout, facts)
    [threshold] = table_rows(root, "thresholds")
    assert threshold == {"metric": ACCURACY, "model": "candidate", "condition": ">= 0.5000 (minimum)", "value": f"{accuracy:.4f}", "result": "pass"}

    overall = {row["metric"]: row for row in table_rows(root, "overall-metrics")}
    assert overall[ACCURACY]["candidate"] == f"{accuracy:.4f}"
    assert overall["example_count"]["candidate"] == f"{count:.0f}"

    label_map = load_label_map(_artifacts(workdir, "retrain.LabelMap")[0].uri)
    per_class = table_rows(root, "per-class")
    assert [row["class"] for row in per_class] == label_map.labels
    supports = [int(row["support"]) for row in per_class]
    assert sum(supports) == count
    recalls = [float(row["recall (candidate)"]) for row in per_class]
    assert sum(r * n for r, n in zip(recalls, supports)) / count == pytest.approx(accuracy, abs=1e-3)

    [examples] = table_rows(root, "examples")
    assert examples == {"span": "0", "train": str(sum(label_map.counts["train"].values())), "eval": str(sum(label_map.counts["eval"].values()))}
    assert int(examples["eval"]) == count
    assert [row["label"] for row in table_rows(root, "label-map")] == label_map.labels
    assert [row["train"] for row in table_rows(root, "label-map")] == [str(label_map.counts["train"][label]) for label in label_map.labels]

    curves = {(row["metric"], row["data"]): row for row in table_rows(root, "curves-Trainer")}
    assert {key: row["epochs"] for key, row in curves.items()} == {
        ("accuracy", "train"): "20",
        ("accuracy", "validation"): "20",
        ("loss", "train"): "20",
        ("loss", "validation"): "20",
    }
    trainer = _store(workdir).get_executions_by_type("tfx.components.trainer.component.Trainer")[0]
    settings = json.loads(trainer.custom_properties["custom_config"].string_value)
    lineage = facts_of(root, "lineage")
    assert lineage["backbone"] == settings["settings"]["tf_backbone_handle"]
    assert lineage["code version"] == settings["code_version"]
    assert lineage["data spans"] == "0"
    assert lineage["warm start from"] == "none"
    assert re.fullmatch(r"[0-9a-f]{16}", lineage["config hash"])
    assert text_of(root.xpath("//p[@id='anomalies']")[0]).startswith("None")


def test_report_of_a_run_that_was_not_blessed_says_why(workdir: Path, runs) -> None:
    root = parse_report(workdir / "out" / "report.html")
    first_eval, second_eval = (artifact.uri for artifact in _artifacts(workdir, "ModelEvaluation"))  # the re-run was cached
    metrics = _tfma_metrics(second_eval)
    accuracy, baseline = metrics[("candidate", ACCURACY, False)], metrics[("baseline", ACCURACY, False)]
    assert baseline == _tfma_metrics(first_eval)[("", ACCURACY, False)]

    assert text_of(root.xpath("//p[@id='headline-tensorflow']")[0]).startswith("Not blessed")
    facts = facts_of(root, "verdict-facts-tensorflow")
    assert facts["blessed"] == "no" and facts["nothing pushed"] == "not blessed by the Evaluator"
    assert facts["eval accuracy"] == f"{accuracy:.4f} (baseline {baseline:.4f}), gate minimum 0.9990"
    assert facts["baseline model"].endswith("pushed as version 1")
    _assert_summary_says(runs[2].stdout, facts)
    reasons = [text_of(item) for item in root.xpath("//ul[@id='gate-failures-tensorflow']/li")]
    assert all(f"  gate failed: {reason}" in runs[2].stdout.splitlines() for reason in reasons)
    assert f"{ACCURACY} {accuracy:.4f} is below the minimum 0.9990" in reasons
    thresholds = {row["condition"]: row for row in table_rows(root, "thresholds")}
    assert thresholds[">= 0.9990 (minimum)"]["result"] == "FAIL"
    assert thresholds[">= 0.9990 (minimum)"]["value"] == f"{accuracy:.4f}"
    change = metrics[("candidate", ACCURACY, True)]
    assert thresholds["change vs. baseline >= -0.0000"]["value"] == f"{change:.4f}"
    assert thresholds["change vs. baseline >= -0.0000"]["result"] == ("pass" if change >= 0 else "FAIL")

    overall = {row["metric"]: row for row in table_rows(root, "overall-metrics")}
    assert overall[ACCURACY]["candidate"] == f"{accuracy:.4f}"
    assert overall[ACCURACY]["baseline"] == f"{baseline:.4f}"
    assert overall[ACCURACY]["change (candidate)"] == f"{change:+.4f}"
    assert "precision (baseline)" in table_rows(root, "per-class")[0]
    store = _store(workdir)
    trainer = max(store.get_executions_by_type("tfx.components.trainer.component.Trainer"), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([trainer.id])
    base_models = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT and e.path.steps[0].key == "base_model"]
    warm_start = facts_of(root, "lineage")["warm start from"]
    assert warm_start == "none" if not base_models else warm_start.startswith(f"model #{base_models[0]} from run ")
    assert text_of(root.xpath("//span[@id='outcome']")[0]) == "ok"


def test_reports_are_self_contained(workdir: Path, runs) -> None:
    for path in (workdir / "first.html", workdir / "out" / "report.html"):
        root = parse_report(path)
        assert not root.xpath("//script | //link | //iframe | //object")
        for value in root.xpath("//@src | //@href"):
            assert not re.match(r"^(https?:)?//", value), value
        images = root.xpath("//img/@src")
        assert len(images) >= 3, "per-class chart, confusion matrix, training curves"
        for src in images:
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
        assert "http://" not in path.read_text() and "https://" not in path.read_text()


def test_report_command_for_a_named_run(workdir: Path, runs, capsys: pytest.CaptureFixture[str]) -> None:
    cached_id = _run_ids(workdir)[1]
    target = workdir / "named" / "cached.html"
    output = str(workdir / "out")
    assert cli.main(["report", "--output", output, "--run", cached_id, "--html", str(target)]) == 0
    assert capsys.readouterr().out == f"report: {target}\n"
    root = parse_report(target)
    assert cached_id in text_of(root.xpath("//h1")[0])
    assert text_of(root.xpath("//span[@id='outcome']")[0]) == "cached"
    headline = text_of(root.xpath("//p[@id='headline-tensorflow']")[0])
    assert headline == "Blessed; nothing new pushed: inputs unchanged since the run that pushed version 1"
    first = parse_report(workdir / "first.html")
    assert table_rows(root, "overall-metrics") == table_rows(first, "overall-metrics")
    assert facts_of(root, "lineage")["config hash"] == facts_of(first, "lineage")["config hash"]

    assert cli.main(["report", "--output", output, "--run", "no-such-run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("retrain: error: no run 'no-such-run'") and error.count("\n") == 1
    assert cli.main(["history", "--output", str(workdir / "nowhere")]) == 2
    assert "no run recorded" in capsys.readouterr().err
    assert not (workdir / "nowhere").exists()


def test_history_lists_runs_in_time_order(workdir: Path, runs, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["history", "--output", str(workdir / "out"), "--config", str(workdir / "config.yaml")]) == 0
    header, *lines = (re.split(r"\s{2,}", line) for line in capsys.readouterr().out.strip().splitlines())
    assert header == ["run", "started", "spans", "trainer", "accuracy", "blessed", "pushed", "outcome"]
    assert [row[0] for row in lines] == _run_ids(workdir) and len(lines) == 3
    assert [row[1] for row in lines] == sorted(row[1] for row in lines)
    evaluations = [artifact.uri for artifact in _artifacts(workdir, "ModelEvaluation")]
    first = f"{_tfma_metrics(evaluations[0])[('', ACCURACY, False)]:.4f}"
    strict = f"{_tfma_metrics(evaluations[1])[('candidate', ACCURACY, False)]:.4f}"
    assert [row[2:] for row in lines] == [
        ["0", "tensorflow", first, "yes", "1", "ok"],
        ["0", "tensorflow", first, "yes", "1 (cached)", "cached"],
        ["0", "tensorflow", strict, "no", "-", "ok"],
    ]
