"""The compiled retrain pipeline run end to end through the local KFP executor (tests/kfp_local).

Every step is the compiled container command in its own process, driven and launched
as kubeflow/pipelines' driver and launcher do (2.5.0), and lineage is in ML Metadata over
gRPC. Three namespaces run pipelines of the same name, as three teams on one cluster would:
- team-a: the built-in example (`trainer: tf`) on MinIO's default root
  (`minio://mlpipeline/v2/artifacts`, an S3-API server on loopback);
- team-b: spans of new data on a `gs://` root (a GCS API server on loopback): a first run,
  then a scheduled one whose resolver steps read the first run's model from GCS;
- team-c: the built-in example with `trainer: both` on the `gs://` root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2

from retrain.components.digits_example.prepare import ExampleLayout
from digits_records import write_digit_records
from kfp_local.cluster import local_cluster
from kfp_local.driver import DEFAULT_PIPELINE_ROOT
from kfp_local.metadata import MetadataClient
from kfp_local.run import Cluster, RunResult, run_pipeline
from retrain.pipelines.cli import EXIT_OK, main
from retrain.pipelines.kubeflow.upload import pipeline_package

pytestmark = pytest.mark.e2e
NAMES = {5: "five", 6: "six", 7: "seven"}
GS_BUCKET = "retrain-artifacts"
GS_ROOT = f"gs://{GS_BUCKET}/v2"


@dataclass
class Compiled:
    documents: dict[str, Any]
    serving: Path

    def run(self, cluster: Cluster, namespace: str) -> RunResult:
        """A run as `retrain submit` creates it (the run's pipeline root from pipeline_package)."""
        runtime = pipeline_package(self.documents, DEFAULT_PIPELINE_ROOT).runtime_config
        return run_pipeline(
            cluster,
            self.documents["pipeline_spec"],
            self.documents["platform_spec"],
            namespace=namespace,
            pipeline_root=runtime.get("pipeline_root", ""),
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with local_cluster(tmp_path_factory.mktemp("kfp-e2e")) as running:
        running.stores.create_gcs_bucket(GS_BUCKET)  # a gs:// root's bucket is the user's to create
        yield running


def _compile(cluster: Cluster, workdir: Path, config: dict[str, Any]) -> Compiled:
    """`retrain compile --config ... --output pipeline.json` with this cluster's MLMD and a serving volume."""
    serving = workdir / "serving"
    kubeflow = {
        "pipeline_root": DEFAULT_PIPELINE_ROOT,
        "serving_root": str(serving),
        "metadata": {"host": cluster.metadata.host, "port": cluster.metadata.port},
        **config.pop("kubeflow", {}),
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump({**config, "kubeflow": kubeflow}))
    output = workdir / "pipeline.json"
    assert main(["compile", "--config", str(workdir / "config.yaml"), "--output", str(output)]) == EXIT_OK
    return Compiled(json.loads(output.read_text()), serving)


@pytest.fixture(scope="module")
def builtin_team_a(cluster: Cluster, digits_example: ExampleLayout, tmp_path_factory: pytest.TempPathFactory) -> tuple[Compiled, RunResult]:
    """The built-in example (pipeline `retrain-digits`) compiled for kfp and run in namespace team-a."""
    compiled = _compile(cluster, tmp_path_factory.mktemp("team-a"), {"kubeflow": {"data_root": str(digits_example.root.parent)}})
    return compiled, compiled.run(cluster, "team-a")


@pytest.fixture(scope="module")
def builtin_both_team_c(cluster: Cluster, digits_example: ExampleLayout, tmp_path_factory: pytest.TempPathFactory) -> tuple[Compiled, RunResult]:
    """The built-in example with `trainer: both` on the gs:// root, in namespace team-c (a short training; any accuracy passes)."""
    config = {
        "trainer": "both",
        "training": {"epochs": 5},
        "evaluation": {"min_accuracy": 0.0, "max_accuracy_drop": 1.0},
        "kubeflow": {"data_root": str(digits_example.root.parent), "pipeline_root": GS_ROOT},
    }
    compiled = _compile(cluster, tmp_path_factory.mktemp("team-c"), config)
    return compiled, compiled.run(cluster, "team-c")


def _drop_span(root: Path, span: int, per_class: dict[int, int]) -> None:
    write_digit_records(root / f"span-{span}" / "train" / "part.tfrecord", per_class, NAMES, offset=10 * span)
    write_digit_records(root / f"span-{span}" / "eval" / "part.tfrecord", {d: 6 for d in per_class}, NAMES, offset=100 + 6 * span)


@pytest.fixture(scope="module")
def spans_team_b(cluster: Cluster, digits_example: ExampleLayout, builtin_team_a, tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    """A pipeline of the same name on spans of new data and the gs:// root, in namespace team-b (after team-a's run)."""
    workdir = tmp_path_factory.mktemp("team-b")
    _drop_span(workdir / "data", 0, {5: 6, 6: 6, 7: 6})
    config = {
        "pipeline_name": "retrain-digits",
        "data": {"path": str(workdir / "data"), "train_pattern": "span-{SPAN}/train/*", "eval_pattern": "span-{SPAN}/eval/*"},
        "backbone": {"handle": str(digits_example.backbone_dir)},
        "training": {"epochs": 3},
        "evaluation": {"min_accuracy": 0.0, "max_accuracy_drop": 1.0},
        "push": {"model_name": "digits-b"},
        "kubeflow": {"pipeline_root": GS_ROOT},
    }
    return _compile(cluster, workdir, config)


@pytest.fixture(scope="module")
def team_b_first(cluster: Cluster, spans_team_b: Compiled) -> RunResult:
    return spans_team_b.run(cluster, "team-b")


@pytest.fixture(scope="module")
def team_b_scheduled(cluster: Cluster, spans_team_b: Compiled, team_b_first: RunResult) -> RunResult:
    """The next scheduled run, after span 1 arrived on disk (same compiled pipeline, same parameters)."""
    _drop_span(spans_team_b.serving.parent / "data", 1, {5: 6, 6: 6, 7: 6})
    return spans_team_b.run(cluster, "team-b")


def _custom(cluster: Cluster, result: RunResult, task: str, key: str) -> dict[str, Any]:
    """The custom properties of `task`'s output `key` in ML Metadata."""
    client = MetadataClient(cluster.metadata.stub())
    artifact = client.output_artifacts(result.tasks[task].execution_id)[key].artifact
    return {name: getattr(value, value.WhichOneof("value")) for name, value in artifact.custom_properties.items()}


def _input(cluster: Cluster, result: RunResult, task: str, key: str) -> kfp_pb2.RuntimeArtifact:
    client = MetadataClient(cluster.metadata.stub())
    return client.input_artifacts(result.tasks[task].execution_id)[key].artifacts[0]


def _input_uri(cluster: Cluster, result: RunResult, task: str, key: str) -> str:
    return _input(cluster, result, task, key).uri


def test_builtin_example_pushes_a_blessed_model(cluster: Cluster, builtin_team_a) -> None:
    compiled, result = builtin_team_a
    assert {"ImportExampleGen", "Trainer", "Evaluator", "VersionedPusher"} <= set(result.tasks)
    assert not any(task.cached for task in result.tasks.values())
    assert _custom(cluster, result, "Evaluator", "blessing")["blessed"] == 1
    model_uri = result.tasks["Trainer"].outputs["model"]
    assert model_uri.startswith(f"{DEFAULT_PIPELINE_ROOT}/retrain-digits/{result.run_id}/Trainer/")
    assert any(key.endswith("saved_model.pb") for key in cluster.stores.objects(model_uri))  # uploaded to MinIO
    versions = sorted(path.name for path in (compiled.serving / "digits").iterdir())
    assert versions == ["1"] and (compiled.serving / "digits" / "1" / "saved_model.pb").is_file()


def test_other_namespace_is_never_the_baseline_or_warm_start(cluster: Cluster, builtin_team_a, team_b_first: RunResult) -> None:
    _, team_a = builtin_team_a
    team_a_model = team_a.tasks["Trainer"].outputs["model"]
    for task in ("baseline_model_resolver", "previous_label_map_resolver"):
        assert _custom(cluster, team_b_first, task, "model").get("resolved_from", "") == "", task
    assert _custom(cluster, team_b_first, "previous_label_map_resolver", "label_map").get("resolved_from", "") == ""
    assert _input_uri(cluster, team_b_first, "Trainer", "base_model") != team_a_model
    assert _custom(cluster, team_b_first, "Evaluator", "blessing")["blessed"] == 1


def test_scheduled_run_ingests_the_new_span_and_builds_on_the_last_model(
    cluster: Cluster, spans_team_b: Compiled, team_b_first: RunResult, team_b_scheduled: RunResult
) -> None:
    assert not team_b_scheduled.tasks["ImportExampleGen"].cached
    fingerprints = [_custom(cluster, run, "ImportExampleGen", "examples")["input_fingerprint"] for run in (team_b_first, team_b_scheduled)]
    assert fingerprints[0] != fingerprints[1]  # span 1's files, not the first run's span 0 served from cache
    first_model = team_b_first.tasks["Trainer"].outputs["model"]
    assert _custom(cluster, team_b_scheduled, "previous_label_map_resolver", "model")["resolved_from"] == first_model
    assert first_model.startswith(f"{GS_ROOT}/retrain-digits/{team_b_first.run_id}/Trainer/")
    run_root = f"{GS_ROOT}/retrain-digits/{team_b_scheduled.run_id}/"
    for task, key in (("Trainer", "base_model"), ("Evaluator", "baseline_model")):
        used = _input(cluster, team_b_scheduled, task, key)  # the resolver's copy, uploaded under this run's root
        assert used.uri.startswith(run_root) and used.metadata["resolved_from"] == first_model, task
        assert any(k.endswith("saved_model.pb") for k in cluster.stores.objects(used.uri)), task  # on GCS
    assert sorted(path.name for path in (spans_team_b.serving / "digits-b").iterdir()) == ["1", "2"]


def test_builtin_example_with_both_trainers_pushes_both_models_on_a_gs_root(cluster: Cluster, builtin_both_team_c) -> None:
    compiled, result = builtin_both_team_c
    assert {"Trainer", "Evaluator", "VersionedPusher", "TorchTrainer", "TorchEvaluator", "TorchPusher"} <= set(result.tasks)
    for trainer, evaluator in (("Trainer", "Evaluator"), ("TorchTrainer", "TorchEvaluator")):
        assert _custom(cluster, result, evaluator, "blessing")["blessed"] == 1, evaluator
        model_uri = result.tasks[trainer].outputs["model"]
        assert model_uri.startswith(f"{GS_ROOT}/retrain-digits/{result.run_id}/{trainer}/"), trainer
        assert cluster.stores.objects(model_uri), trainer  # uploaded to GCS
    assert any(key.endswith("saved_model.pb") for key in cluster.stores.objects(result.tasks["Trainer"].outputs["model"]))
    for task in ("baseline_model_resolver", "torch_baseline_model_resolver"):  # team-a's and team-b's models are in other namespaces
        assert _custom(cluster, result, task, "model").get("resolved_from", "") == "", task
    assert (compiled.serving / "digits" / "1" / "saved_model.pb").is_file()
    pushed_torch = compiled.serving / "digits-torch" / "1"
    assert sorted(path.name for path in (compiled.serving / "digits-torch").iterdir()) == ["1"]
    assert (pushed_torch / "model.pt").is_file() and json.loads((pushed_torch / "labels.json").read_text()) == ["5", "6", "7", "8", "9"]
