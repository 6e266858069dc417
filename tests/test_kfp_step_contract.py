"""Compiled steps keep the KFP v2 driver/launcher contract: empty input schemas, object-store mirror paths.

Executor inputs are built as the driver builds them (tests/kfp_driver.py, from
kubeflow/pipelines `backend/src/v2/driver/driver.go` and `metadata/client.go` at
2.4.0 and 2.5.0); mirror paths follow the launcher's `LocalPathForURI`
(`backend/src/v2/component/launcher_v2.go`). The type crash is TFX v1.16.0's
`_retrieve_class_path` (`tfx/orchestration/kubeflow/v2/container/kubeflow_v2_entrypoint_utils.py`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from digits_records import write_digit_records
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from mlmd_history import PIPELINE, record_history
from kfp_driver import driver_executor_input, executor_of, output_uri, step_args
from kfp_local.cluster import installed_secrets
from kfp_local.driver import DEFAULT_PIPELINE_ROOT, store_session_info
from kfp_local.object_store import parse_bucket_config_for_artifact_uri, upload_blob
from kfp_local.services import ObjectStores, start_s3_server
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
from tfx.utils import import_utils

from retrain.components.resolvers.kfp.component import sqlite_connection
from retrain.components.kubeflow.entrypoint import register_artifact_types, run_step
from retrain.components.kubeflow.example_gen import DATA_VERSION_KEY
from retrain.components.kubeflow.mirror import MIRROR_PREFIX_ENV, mirror_path, uri_of
from retrain.components.resolvers.kfp.namespace import NAMESPACE_ENV
from retrain.components.resolvers.kfp.object_store import MINIO_SECRET, secret_env
from retrain.components.kubeflow.step_input import prepare_step, restore_output_uris
from retrain.pipelines.config import config_from_dict
from retrain.pipelines.kubeflow.compile import compile_pipeline_spec
from retrain.pipelines.kubeflow.steps import SPAN_PROBE_ID


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("minio://mlpipeline/v2/artifacts/p/r/T/s/model", "/minio/mlpipeline/v2/artifacts/p/r/T/s/model"),
        ("s3://bucket/root/p/r/T/s/examples", "/s3/bucket/root/p/r/T/s/examples"),
        ("gs://bucket/root/x", "/gcs/bucket/root/x"),
        ("/data/local/x", None),
    ],
)
def test_mirror_paths_follow_the_launchers_rules(uri: str, path: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_PREFIX_ENV, raising=False)
    assert mirror_path(uri) == path
    assert uri_of(path or uri) == uri
    monkeypatch.setenv(MIRROR_PREFIX_ENV, "/tmp/harness/")
    assert mirror_path(uri) == (None if path is None else "/tmp/harness" + path)
    assert uri_of(mirror_path(uri) or uri) == uri


@pytest.fixture(scope="module", params=["tf", "both"])
def compiled(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The built-in example compiled for kfp (PipelineSpec JSON)."""
    return compile_pipeline_spec(config_from_dict({"trainer": request.param}))["pipeline_spec"]


def _inputs_spec(spec: dict[str, Any], task: str) -> str | None:
    args = executor_of(spec, task)[1]["args"]
    flag = "--json_serialized_inputs_spec_args"
    return args[args.index(flag) + 1] if flag in args else None


def test_every_step_recovers_the_input_types_the_driver_leaves_empty(compiled: dict[str, Any], tmp_path: Path) -> None:
    register_artifact_types()
    tasks = compiled["root"]["dag"]["tasks"]
    with_inputs = [task for task, spec in tasks.items() if spec.get("inputs", {}).get("artifacts")]
    assert set(tasks) - set(with_inputs) == {SPAN_PROBE_ID, "ImportExampleGen"}  # every other step reads an upstream artifact
    probed = {(SPAN_PROBE_ID, DATA_VERSION_KEY): "0::0123456789abcdef"}
    for task in tasks:
        raw = driver_executor_input(compiled, task, str(tmp_path / "executor_output.json"), upstream_parameters=probed)
        executor_input = json_format.ParseDict(raw, pipeline_spec_pb2.ExecutorInput())
        if task in with_inputs:
            with pytest.raises(AttributeError):  # what TFX's runner does with the driver's input as it comes
                kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(executor_input.inputs.artifacts)
        prepared = json_format.Parse(prepare_step(json.dumps(raw), _inputs_spec(compiled, task)).invocation_json, pipeline_spec_pb2.ExecutorInput())
        parsed = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(prepared.inputs.artifacts)
        for key, source in tasks[task].get("inputs", {}).get("artifacts", {}).items():
            producer = source["taskOutputArtifact"]
            declared = executor_of(compiled, producer["producerTask"])[0]["outputDefinitions"]["artifacts"][producer["outputArtifactKey"]]
            type_schema = json_format.ParseDict(declared["artifactType"], pipeline_spec_pb2.ArtifactTypeSchema())
            expected = import_utils.import_class_by_path(kubeflow_v2_entrypoint_utils._retrieve_class_path(type_schema))  # noqa: SLF001
            [artifact] = parsed[key]
            assert type(artifact) is expected, (task, key)
            assert artifact.uri == mirror_path(output_uri(producer["producerTask"], producer["outputArtifactKey"]))


def test_an_input_without_a_declared_type_is_one_clear_error() -> None:
    raw = {"inputs": {"artifacts": {"examples": {"artifacts": [{"uri": "/x", "type": {"instanceSchema": ""}}]}}}, "outputs": {"outputFile": "/o"}}
    with pytest.raises(ValueError, match="input artifact 'examples' has no type and the step's inputs spec declares none"):
        prepare_step(json.dumps(raw), json.dumps({"artifacts": {}}))


def test_reported_outputs_get_their_uris_back_and_other_uris_stay() -> None:
    raw = {
        "outputs": {"artifacts": {"model": {"artifacts": [{"uri": "s3://b/r/T/s/model", "type": {"schemaTitle": "tfx.Model"}}]}}, "outputFile": "/o"}
    }
    prepared = prepare_step(json.dumps(raw), None)
    assert prepared.uris_by_mirror_path == {"/s3/b/r/T/s/model": "s3://b/r/T/s/model"}
    reported = pipeline_spec_pb2.ExecutorOutput()
    reported.artifacts["model"].artifacts.add(uri="/s3/b/r/T/s/model")
    reported.artifacts["baseline"].artifacts.add(uri="s3://b/r/Trainer/s/model")  # not a mirror path: left as reported
    restore_output_uris(reported, prepared.uris_by_mirror_path)
    assert [reported.artifacts[k].artifacts[0].uri for k in ("model", "baseline")] == ["s3://b/r/T/s/model", "s3://b/r/Trainer/s/model"]


def test_example_gen_and_statistics_gen_run_on_mirror_paths_through_the_entrypoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three real steps as the launcher runs them on the default MinIO root: outputs at mirror paths, reported at their URIs."""
    compiled = compile_pipeline_spec(config_from_dict({}))["pipeline_spec"]
    run_root = "minio://mlpipeline/v2/artifacts/retrain/run-1"
    monkeypatch.setenv(MIRROR_PREFIX_ENV, str(tmp_path / "mirror"))
    for split in ("train", "eval"):
        write_digit_records(tmp_path / "data" / split / "part.tfrecord", {1: 3, 7: 3}, {1: "one", 7: "seven"})
    reported: dict[str, Any] = {}
    for task in (SPAN_PROBE_ID, "ImportExampleGen", "StatisticsGen"):
        output_file = tmp_path / task / "executor_output.json"
        recorded = {
            (producer, key): artifacts["artifacts"][0] for producer, output in reported.items() for key, artifacts in output["artifacts"].items()
        }
        parameters = {(producer, key): value for producer, output in reported.items() for key, value in output.get("parameterValues", {}).items()}
        raw = driver_executor_input(compiled, task, str(output_file), run_root, recorded, parameters)
        if task != "StatisticsGen":
            raw["inputs"]["parameterValues"]["input_base"] = str(tmp_path / "data")
        run_step(step_args(compiled, task, json.dumps(raw)))
        reported[task] = json.loads(output_file.read_text())
    [examples] = reported["ImportExampleGen"]["artifacts"]["examples"]["artifacts"]
    assert examples["uri"] == output_uri("ImportExampleGen", "examples", run_root)
    assert (Path(mirror_path(examples["uri"])) / "Split-train").is_dir()  # what the launcher uploads
    [statistics] = reported["StatisticsGen"]["artifacts"]["statistics"]["artifacts"]
    assert statistics["uri"] == output_uri("StatisticsGen", "statistics", run_root)
    assert (Path(mirror_path(statistics["uri"])) / "Split-eval" / "FeatureStats.pb").is_file()


def test_a_resolver_step_on_minio_matches_mirror_inputs_to_mlmd_uris_within_its_namespace(
    compiled: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label-map resolver step on a MinIO root: its input arrives at a mirror path, ML Metadata records `minio://` URIs.

    Run 2's examples again (unchanged data) resolve run 2's own inputs (L1, M1), which needs the input recognised
    by URI; run 3's examples resolve team-a's latest blessed model (M2), not team-b's newer same-named one (M9).
    """
    history = record_history(tmp_path / "mlmd", kfp=True, namespace="team-a", other_namespace="team-b")
    server, endpoint = start_s3_server()  # MinIO's S3 API, holding the history's artifacts
    bucket = ObjectStores(endpoint).open_bucket(parse_bucket_config_for_artifact_uri("minio://mlpipeline/x"))
    session = json.dumps(store_session_info(DEFAULT_PIPELINE_ROOT, endpoint.split("://", 1)[1]))
    for artifact in history.store.get_artifacts():
        upload_blob(bucket, artifact.uri, artifact.uri.lstrip("/"))
        artifact.uri = "minio://mlpipeline" + artifact.uri
        artifact.custom_properties["store_session_info"].string_value = session  # as the launcher records it
        history.store.put_artifacts([artifact])
    for key, value in installed_secrets()[MINIO_SECRET].items():
        monkeypatch.setenv(secret_env(MINIO_SECRET, key), value)  # the compiled secretAsEnv
    monkeypatch.setenv(MIRROR_PREFIX_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv(NAMESPACE_ENV, "team-a")
    task = "previous_label_map_resolver"
    try:
        for examples, expected in (("E2", ("L1", "M1")), ("E3", ("L2", "M2"))):
            examples_uri = "minio://mlpipeline" + history.uris[examples]
            shutil.copytree(history.uris[examples], mirror_path(examples_uri))  # the launcher's download
            output_file = tmp_path / examples / "executor_output.json"
            raw = driver_executor_input(compiled, task, str(output_file), upstream={("ImportExampleGen", "examples"): {"uri": examples_uri}})
            raw["inputs"]["parameterValues"].update({"pipeline_name": PIPELINE, "metadata_connection": sqlite_connection(str(history.path))})
            shutil.rmtree(tmp_path / "mirror" / "minio" / "mlpipeline" / "v2", ignore_errors=True)  # a fresh pod
            run_step(step_args(compiled, task, json.dumps(raw)))
            reported = json.loads(output_file.read_text())["artifacts"]
            for key, name in zip(("label_map", "model"), expected):
                [artifact] = reported[key]["artifacts"]
                assert artifact["metadata"]["resolved_from"] == "minio://mlpipeline" + history.uris[name], (examples, key)
                assert (Path(mirror_path(artifact["uri"])) / "payload.txt").read_text() == name  # copied for the launcher to upload
    finally:
        server.stop()
