"""Resolver steps read resolved artifacts from the object store with the access the KFP launcher has.

Session info and credentials as kubeflow/pipelines `backend/src/v2/objectstore/` and
`config/env.go` (2.4.0, 2.5.0) define them; the S3-API server is moto on loopback, the
GCS JSON-API server gcp-storage-emulator on loopback (tests/kfp_local/services.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from google.api_core.exceptions import NotFound
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2
from mlmd_history import PIPELINE, record_history
from tfx.types import standard_artifacts

from retrain.components.resolvers.kfp import executor, lineage, object_store
from retrain.components.resolvers.kfp.component import sqlite_connection
from retrain.components.kubeflow.mirror import MIRROR_PREFIX_ENV, mirror_path
from retrain.components.resolvers.kfp.object_store import MINIO_SECRET, ObjectStoreError, secret_env
from kfp_local.cluster import installed_secrets
from kfp_local.driver import DEFAULT_PIPELINE_ROOT, KFP_VERSIONS, DriverError, StepOptions, check_kubernetes_config, store_session_info
from kfp_local.launcher import Pod, PodNotStarted, step_environment
from kfp_local.object_store import parse_bucket_config, parse_bucket_config_for_artifact_uri, upload_blob
from kfp_local.services import ObjectStores, start_gcs_server, start_s3_server
from retrain.pipelines.kubeflow import platform
from retrain.pipelines.kubeflow.settings import KubeflowSettings

MODEL_URI = f"{DEFAULT_PIPELINE_ROOT}/retrain-digits/run-1/Trainer/model"
GS_ROOT = "gs://retrain-artifacts/v2"
GS_MODEL_URI = f"{GS_ROOT}/retrain-digits/run-1/Trainer/model"


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ObjectStores, dict[str, Any]]]:
    """An S3-API server holding run 1's model (a directory of objects), and the session the launcher recorded for it."""
    server, endpoint = start_s3_server()
    stores = ObjectStores(endpoint)
    bucket = stores.open_bucket(parse_bucket_config_for_artifact_uri(MODEL_URI))
    staged = tmp_path_factory.mktemp("staged") / "file"
    for key, text in (("model/saved_model.pb", "graph"), ("model/variables/variables.index", "index"), ("model-other/x", "not this artifact")):
        staged.write_text(text)
        bucket.write(f"v2/artifacts/retrain-digits/run-1/Trainer/{key}", str(staged))
    try:
        yield stores, store_session_info(DEFAULT_PIPELINE_ROOT, endpoint.split("://", 1)[1])
    finally:
        server.stop()


def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in installed_secrets()[MINIO_SECRET].items():
        monkeypatch.setenv(secret_env(MINIO_SECRET, key), value)


def test_download_lays_out_the_artifact_as_the_launcher_does(minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, session = minio
    _secret_env(monkeypatch)
    object_store.download(MODEL_URI, session, str(tmp_path / "copy"))
    files = sorted(str(path.relative_to(tmp_path / "copy")) for path in (tmp_path / "copy").rglob("*") if path.is_file())
    assert files == ["saved_model.pb", "variables/variables.index"]
    assert (tmp_path / "copy" / "saved_model.pb").read_text() == "graph"


def test_s3_root_reader_uses_the_pods_environment(minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An `s3://` root's session is `fromEnv`: boto3's default chain (IRSA or AWS_* in a pod; here the S3-API server's)."""
    stores, _ = minio
    monkeypatch.setenv("AWS_ENDPOINT_URL", stores.s3_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key, value in installed_secrets()[MINIO_SECRET].items():
        monkeypatch.setenv({"accesskey": "AWS_ACCESS_KEY_ID", "secretkey": "AWS_SECRET_ACCESS_KEY"}[key], value)
    s3_uri = "s3://" + MODEL_URI[len("minio://") :]
    object_store.download(s3_uri, store_session_info("s3://mlpipeline/v2/artifacts"), str(tmp_path / "copy"))
    assert sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file()) == [
        "saved_model.pb",
        "variables/variables.index",
    ]


def test_missing_minio_credentials_fail_in_one_line_naming_the_secret(minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, session = minio
    _secret_env(monkeypatch)
    monkeypatch.delenv(secret_env(MINIO_SECRET, "secretkey"))
    with pytest.raises(ObjectStoreError) as raised:
        object_store.download(MODEL_URI, session, str(tmp_path / "copy"))
    message = str(raised.value)
    assert "\n" not in message and "RETRAIN_SECRET_MLPIPELINE_MINIO_ARTIFACT_SECRETKEY" in message and f"'{MINIO_SECRET}'" in message


def test_nothing_stored_and_unknown_providers_fail_in_one_line(minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, session = minio
    _secret_env(monkeypatch)
    with pytest.raises(ObjectStoreError, match=r"^object store: nothing stored at minio://\S+/run-2/Trainer/model$"):
        object_store.download(MODEL_URI.replace("run-1", "run-2"), session, str(tmp_path / "copy"))
    with pytest.raises(ObjectStoreError, match=r"^object store: \S+: unknown provider 'azure' in its store_session_info"):
        object_store.download(MODEL_URI, {"Provider": "azure", "Params": {}}, str(tmp_path / "copy"))


def test_emit_copies_into_the_steps_own_output_and_keeps_the_original_source(minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, session = minio
    _secret_env(monkeypatch)
    resolved = standard_artifacts.Model()
    resolved.uri, resolved.id = MODEL_URI, 7
    resolved.set_string_custom_property(object_store.SESSION_PROPERTY, json.dumps(session))
    copy = standard_artifacts.Model()
    copy.uri = str(tmp_path / "minio" / "mlpipeline" / "v2" / "artifacts" / "retrain-digits" / "run-2" / "resolver" / "model")
    executor.emit(resolved, copy)
    assert (Path(copy.uri) / "saved_model.pb").read_text() == "graph"
    assert (copy.get_string_custom_property("resolved_from"), copy.get_int_custom_property("resolved_from_id")) == (MODEL_URI, 7)
    copy.uri, copy.id = MODEL_URI, 12  # as the launcher recorded run 2's copy (at its URI); run 3 resolves it again
    copy.set_string_custom_property(object_store.SESSION_PROPERTY, json.dumps(session))
    again = standard_artifacts.Model()
    again.uri = str(tmp_path / "run-3")
    executor.emit(copy, again)
    assert (again.get_string_custom_property(lineage.RESOLVED_FROM_PROPERTY), again.get_int_custom_property("resolved_from_id")) == (MODEL_URI, 7)


def _step(config: dict[str, Any], version: str) -> StepOptions:
    container = kfp_pb2.PipelineDeploymentConfig.PipelineContainerSpec()
    return StepOptions("p", "r", "r", "team-a", kfp_pb2.PipelineTaskSpec(), kfp_pb2.ComponentSpec(), container, config, version)


@pytest.mark.parametrize("kfp_version", KFP_VERSIONS)  # the backends the local driver ports
def test_resolver_steps_get_the_minio_secret_in_the_shape_each_driver_parses(kfp_version: str, tmp_path: Path) -> None:
    settings = KubeflowSettings(kfp_version=kfp_version, pipeline_root=DEFAULT_PIPELINE_ROOT)
    configs = platform.kubernetes_executor_configs(
        {"baseline_model_resolver": "exec-b", "Trainer": "exec-t"}, set(), settings, ["baseline_model_resolver"]
    )
    assert "secretAsEnv" not in configs.get("exec-t", {})  # only resolver steps read other runs' artifacts
    check_kubernetes_config(configs["exec-b"], kfp_version)  # 2.4.0: strict, as its driver
    env = step_environment(_step(configs["exec-b"], kfp_version), Pod(tmp_path, secrets=installed_secrets()), "127.0.0.1", 1)
    assert env[secret_env(MINIO_SECRET, "accesskey")] == installed_secrets()[MINIO_SECRET]["accesskey"]
    with pytest.raises(PodNotStarted, match=f'secret "{MINIO_SECRET}" not found'):
        step_environment(_step(configs["exec-b"], kfp_version), Pod(tmp_path), "127.0.0.1", 1)


@pytest.mark.parametrize("root", ["s3://bucket/root", "gs://bucket/root"])
def test_s3_and_gs_roots_use_the_pods_ambient_credentials(root: str) -> None:
    settings = KubeflowSettings(pipeline_root=root)
    configs = platform.kubernetes_executor_configs({"baseline_model_resolver": "exec-b"}, set(), settings, ["baseline_model_resolver"])
    assert "secretAsEnv" not in configs.get("exec-b", {})
    assert store_session_info(root)["Params"] == {"fromEnv": "true"}


def test_kfp_2_4_0_driver_rejects_the_2_5_0_secret_shape() -> None:
    settings = KubeflowSettings(kfp_version="2.5.0", pipeline_root=DEFAULT_PIPELINE_ROOT)
    [entry] = platform.object_store_secrets(settings)
    with pytest.raises(DriverError):
        check_kubernetes_config({"secretAsEnv": [entry]}, "2.4.0")


def test_span_window_step_reads_earlier_spans_from_minio(minio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E2 (an earlier run's span) is read from the object store; E3 (this run's input) from its mirror path."""
    stores, session = minio
    _secret_env(monkeypatch)
    history = record_history(tmp_path / "mlmd", kfp=True)
    bucket = stores.open_bucket(parse_bucket_config_for_artifact_uri("minio://mlpipeline/x"))
    for artifact in history.store.get_artifacts():
        (Path(artifact.uri) / "Split-train").mkdir(exist_ok=True)
        (Path(artifact.uri) / "Split-train" / "data.gz").write_text(Path(artifact.uri).name)
        upload_blob(bucket, artifact.uri, artifact.uri.lstrip("/"))
        artifact.uri = "minio://mlpipeline" + artifact.uri
        artifact.custom_properties["store_session_info"].string_value = json.dumps(session)
        history.store.put_artifacts([artifact])
    monkeypatch.setenv(MIRROR_PREFIX_ENV, str(tmp_path / "pod"))
    latest = standard_artifacts.Examples()
    latest.uri = mirror_path("minio://mlpipeline" + history.uris["E3"])
    shutil.copytree(history.uris["E3"], latest.uri)  # the launcher's download of this run's input
    window = standard_artifacts.Examples()
    window.uri = str(tmp_path / "window")
    properties = {"pipeline_name": PIPELINE, "metadata_connection": sqlite_connection(str(history.path)), "num_spans": 2}
    executor.SpanWindowExecutor().Do({"latest": [latest]}, {"examples": [window]}, properties)
    assert sorted(path.read_text() for path in (tmp_path / "window" / "Split-train").iterdir()) == ["E2", "E3"]
    assert window.get_string_custom_property("resolved_from").split(",") == [
        "minio://mlpipeline" + history.uris[n] for n in ("E3", "E2")
    ]  # newest first


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ObjectStores, str]]:
    """A GCS API server holding run 1's model on a gs:// root, uploaded as the launcher uploads it; its endpoint."""
    server, endpoint = start_gcs_server()
    stores = ObjectStores("", endpoint)
    stores.create_gcs_bucket("retrain-artifacts")
    model = tmp_path_factory.mktemp("model")
    (model / "variables").mkdir()
    (model / "saved_model.pb").write_text("graph")
    (model / "variables" / "variables.index").write_text("index")
    root = parse_bucket_config(GS_ROOT)
    upload_blob(stores.open_bucket(root), str(model), root.key_from_uri(GS_MODEL_URI))
    try:
        yield stores, endpoint
    finally:
        server.stop()


def test_gs_reader_reads_the_launchers_upload_through_the_gcs_api(gcs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gs:// root's session is `fromEnv` (the pod's default credentials); here the step env's STORAGE_EMULATOR_HOST."""
    stores, endpoint = gcs
    assert stores.objects(GS_MODEL_URI) == [
        "v2/retrain-digits/run-1/Trainer/model/saved_model.pb",
        "v2/retrain-digits/run-1/Trainer/model/variables/variables.index",
    ]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    object_store.download(GS_MODEL_URI, store_session_info(GS_ROOT), str(tmp_path / "copy"))
    files = sorted(str(path.relative_to(tmp_path / "copy")) for path in (tmp_path / "copy").rglob("*") if path.is_file())
    assert files == ["saved_model.pb", "variables/variables.index"]
    assert (tmp_path / "copy" / "saved_model.pb").read_text() == "graph"
    with pytest.raises(ObjectStoreError, match=r"^object store: nothing stored at gs://\S+/run-2/Trainer/model$"):
        object_store.download(GS_MODEL_URI.replace("run-1", "run-2"), store_session_info(GS_ROOT), str(tmp_path / "none"))


def test_gcs_server_rejects_a_missing_bucket_as_gcs_does(gcs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No bucket is created on the fly: the launcher's upload and the step's read of a missing bucket get GCS's 404."""
    stores, endpoint = gcs
    staged = tmp_path / "file"
    staged.write_text("x")
    with pytest.raises(NotFound):
        upload_blob(stores.open_bucket(parse_bucket_config("gs://no-such-bucket/root")), str(staged), "run/x")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    with pytest.raises(NotFound):
        object_store.download("gs://no-such-bucket/root/run/x", store_session_info("gs://no-such-bucket/root"), str(tmp_path / "copy"))
