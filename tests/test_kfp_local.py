"""The local KFP executor (tests/kfp_local) against the backend's contract, and one compiled step run through it.

Contract facts are from kubeflow/pipelines `backend/src/v2/` at tags 2.4.0 and 2.5.0
(see each module of tests/kfp_local for the file it ports).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import tensorflow as tf
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from digits_records import write_digit_records
from kfp_local.cache import cache_key, fingerprint
from kfp_local.cluster import local_cluster
from kfp_local.driver import DEFAULT_PIPELINE_ROOT, DriverError, StepOptions, check_kubernetes_config, provision_outputs, resolve_inputs, root_dag
from kfp_local.launcher import StepFailed
from kfp_local.metadata import CONTAINER_EXECUTION_TYPE, MetadataClient, generate_output_uri
from kfp_local.object_store import UnsupportedURI, local_path_for_uri, parse_bucket_config, upload_blob
from kfp_local.run import Cluster, RunContext, run_task, start_run
from retrain.pipelines.config import config_from_dict
from retrain.pipelines.kubeflow.compile import compile_pipeline_spec

NAMES = {5: "five", 6: "six"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with local_cluster(tmp_path_factory.mktemp("kfp")) as running:
        yield running


@pytest.fixture(scope="module")
def compiled(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The built-in example compiled for kfp with this cluster's MLMD (the steps run here read no example files)."""
    metadata = {"host": cluster.metadata.host, "port": cluster.metadata.port}
    kubeflow = {"pipeline_root": DEFAULT_PIPELINE_ROOT, "data_root": str(tmp_path_factory.mktemp("examples")), "metadata": metadata}
    return compile_pipeline_spec(config_from_dict({"kubeflow": kubeflow}), "kfp")


def test_local_mirror_paths_and_bucket_keys(tmp_path: Path) -> None:
    """launcher_v2.go LocalPathForURI and objectstore/config.go, with the pod's `/` at tmp_path."""
    assert local_path_for_uri("minio://mlpipeline/v2/artifacts/p/r/T/u/model", tmp_path) == f"{tmp_path}/minio/mlpipeline/v2/artifacts/p/r/T/u/model"
    assert local_path_for_uri("gs://bucket/root/x", tmp_path) == f"{tmp_path}/gcs/bucket/root/x"
    assert local_path_for_uri("s3://bucket/x", tmp_path) == f"{tmp_path}/s3/bucket/x"
    with pytest.raises(UnsupportedURI):
        local_path_for_uri("/pipeline-root/x", tmp_path)
    config = parse_bucket_config("minio://mlpipeline/v2/artifacts")
    assert (config.bucket_name, config.prefix) == ("mlpipeline", "v2/artifacts/")
    assert config.key_from_uri("minio://mlpipeline/v2/artifacts/p/r/T/model") == "p/r/T/model"
    with pytest.raises(UnsupportedURI, match="unrecognized pipeline root format"):
        parse_bucket_config("/pipeline-root")


def test_root_dag_takes_the_runs_root_else_minio_and_rejects_a_path(cluster: Cluster) -> None:
    """driver.go RootDAG: runtime_config root, else kfp-launcher ConfigMap, else MinIO; never defaultPipelineRoot."""
    client = MetadataClient(cluster.metadata.stub())
    runtime = kfp_pb2.PipelineJob.RuntimeConfig()
    pipeline, dag = root_dag(client, "contract-test", "run-a", "team-a", runtime)
    assert pipeline.pipeline_root() == f"{DEFAULT_PIPELINE_ROOT}/contract-test/run-a"
    assert pipeline.run_context.custom_properties["namespace"].string_value == "team-a"
    assert dag.name == "run/run-a"
    runtime.gcs_output_directory = "/pipeline-root"
    with pytest.raises(DriverError, match="unrecognized pipeline root format"):
        root_dag(client, "contract-test", "run-b", "team-a", runtime)


def test_cache_key_ignores_output_uris_and_follows_inputs() -> None:
    """cacheutils/cache.go: output URIs (salted per run) are wiped; input artifact ids and parameters count."""
    outputs_spec = kfp_pb2.ComponentOutputsSpec()
    outputs_spec.artifacts["examples"].artifact_type.instance_schema = "title: tfx.Examples\ntype: object\n"

    def key(span: int, salt: str, upstream: str = "") -> str:
        executor_input = kfp_pb2.ExecutorInput(outputs=provision_outputs("minio://b/r", "T", outputs_spec, salt, True))
        executor_input.inputs.parameter_values["requested_span"].number_value = span
        if upstream:
            executor_input.inputs.artifacts["x"].artifacts.add(name=upstream)
        return fingerprint(cache_key(executor_input, {}, ["python", "-m", "step", "{{$}}"], "retrain:1"))

    assert key(-1, "run-1") == key(-1, "run-2")  # why a scheduled ExampleGen with span -1 is served from cache
    assert key(-1, "run-1") != key(3, "run-1")
    assert key(-1, "run-1", upstream="7") != key(-1, "run-1", upstream="8")


def test_kfp_2_4_0_driver_rejects_fields_it_does_not_know() -> None:
    """cmd/driver/main.go: 2.4.0 parses the Kubernetes executor config strictly, 2.4.1 and 2.5.0 allow unknown fields
    (2.4.1 with 2.4.0's proto: a 2.5.0-shaped mount parses there, its claim dropped)."""
    config = {"pvcMount": [{"pvcNameParameter": {"runtimeValue": {"constant": "claim"}}, "mountPath": "/data"}]}
    check_kubernetes_config(config, "2.5.0")
    check_kubernetes_config(config, "2.4.1")
    with pytest.raises(DriverError, match='no field named "pvcNameParameter"'):
        check_kubernetes_config(config, "2.4.0")
    check_kubernetes_config({"pvcMount": [{"constant": "claim", "mountPath": "/data"}]}, "2.4.0")


def test_driver_takes_an_upstream_output_parameter_from_the_producers_execution(cluster: Cluster) -> None:
    """driver.go resolveUpstreamParameters: a container producer's value is its execution's `outputs` property."""
    client = MetadataClient(cluster.metadata.stub())
    pipeline, dag = root_dag(client, "parameter-test", "run-p", "team-p", kfp_pb2.PipelineJob.RuntimeConfig())
    producer = client.create_execution(pipeline, CONTAINER_EXECUTION_TYPE, task_name="probe", parent_dag_id=dag.id)
    client.publish_execution(producer, pipeline, {"data_version": struct_pb2.Value(string_value="span=3")}, [], mlmd_pb2.Execution.COMPLETE)
    task = json_format.ParseDict(
        {
            "taskInfo": {"name": "gen"},
            "inputs": {"parameters": {"version": {"taskOutputParameter": {"producerTask": "probe", "outputParameterKey": "data_version"}}}},
        },
        kfp_pb2.PipelineTaskSpec(),
    )
    component = json_format.ParseDict({"inputDefinitions": {"parameters": {"version": {"parameterType": "STRING"}}}}, kfp_pb2.ComponentSpec())
    opts = StepOptions("parameter-test", "run-p", "run-p", "team-p", task, component, kfp_pb2.PipelineDeploymentConfig.PipelineContainerSpec())
    inputs = resolve_inputs(client, client.get_execution(dag.id), pipeline, opts)
    assert inputs.parameter_values["version"].string_value == "span=3"


def test_mlmd_service_serves_the_python_grpc_client(cluster: Cluster) -> None:
    """The resolver steps' MLMD client (MetadataStoreClientConfig over gRPC) reads what the driver wrote."""
    client = MetadataClient(cluster.metadata.stub())
    pipeline, _ = root_dag(client, "grpc-test", "run-g", "team-g", kfp_pb2.PipelineJob.RuntimeConfig())
    store = cluster.metadata.client_store()
    context = store.get_context_by_type_and_name("system.Pipeline", "grpc-test")
    assert context is not None and context.id == pipeline.context.id
    assert store.get_context_by_type_and_name("system.Pipeline", "no-such-pipeline") is None
    assert [c.name for c in store.get_children_contexts_by_context(context.id)] == ["run-g"]


def test_step_leaves_the_launchers_log_output_to_the_launcher(compiled: dict[str, Any]) -> None:
    """KFP 2.5.0's driver adds `executor-logs` (system.Artifact) to every step; TFX must not see it."""
    from retrain.components.kubeflow.step_input import prepare_step

    outputs_spec = compiled["pipeline_spec"]["components"]["StatisticsGen"]["outputDefinitions"]
    outputs = provision_outputs(
        "minio://mlpipeline/v2/artifacts/p/r", "StatisticsGen", json_format.ParseDict(outputs_spec, kfp_pb2.ComponentOutputsSpec()), "salt", True
    )
    assert set(outputs.artifacts) == {"statistics", "executor-logs"}
    executor_input = kfp_pb2.ExecutorInput(outputs=outputs)
    prepared = json_format.Parse(prepare_step(json_format.MessageToJson(executor_input), None).invocation_json, kfp_pb2.ExecutorInput())
    assert set(prepared.outputs.artifacts) == {"statistics"}


def _record_upstream_examples(run: RunContext, data: Path) -> str:
    """What the launcher records for ImportExampleGen (tests/kfp_local/launcher.py), with the examples uploaded."""
    uri = generate_output_uri(run.pipeline.pipeline_root(), ["ImportExampleGen", str(uuid.uuid4()), "examples"], False)
    bucket_config = parse_bucket_config(run.pipeline.pipeline_root())
    upload_blob(run.cluster.stores.open_bucket(bucket_config), str(data), bucket_config.key_from_uri(uri))
    execution = run.client.create_execution(run.pipeline, CONTAINER_EXECUTION_TYPE, task_name="ImportExampleGen", parent_dag_id=run.dag.id)
    artifact = kfp_pb2.RuntimeArtifact(uri=uri)
    for key, value in {"split_names": '["train", "eval"]', "file_format": "tfrecords_gzip", "payload_format": "FORMAT_TF_EXAMPLE"}.items():
        artifact.metadata.fields[key].string_value = value
    artifact.metadata.fields["span"].number_value = 0
    recorded = run.client.record_artifact("examples", "title: tfx.Examples\ntype: object\n", artifact, {})
    run.client.publish_execution(execution, run.pipeline, {}, [recorded], mlmd_pb2.Execution.COMPLETE)
    return uri


def _write_examples(root: Path) -> Path:
    for split, offset in (("train", 0), ("eval", 50)):
        plain = root / "plain" / f"{split}.tfrecord"
        write_digit_records(plain, {5: 4, 6: 4}, NAMES, offset=offset)
        target = root / "examples" / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(target), options="GZIP") as writer:
            for record in tf.data.TFRecordDataset([str(plain)]):
                writer.write(record.numpy())
    return root / "examples"


@pytest.mark.parametrize("kfp_version", ["2.4.0", "2.5.0"])
def test_compiled_step_runs_on_an_upstream_artifact_with_empty_instance_schema(
    cluster: Cluster, compiled: dict[str, Any], tmp_path: Path, kfp_version: str
) -> None:
    """The compiled StatisticsGen step, given ExampleGen's output as the driver resolves it (`instanceSchema: ""`).

    Before the entrypoint fix this step died in TFX's `_retrieve_class_path` (AttributeError on
    `yaml.safe_load("")`), and on 2.5.0 also on the driver's `executor-logs` output (`system.Artifact`).
    """
    cluster.kfp_version = kfp_version
    try:
        platform = compiled["platform_spec"] if kfp_version == "2.5.0" else None  # 2.4.0: see the strictness test
        run = start_run(cluster, compiled["pipeline_spec"], platform, namespace="team-s")
        examples_uri = _record_upstream_examples(run, _write_examples(tmp_path))
        try:
            statistics = run_task(run, "StatisticsGen")
        except StepFailed as failure:
            pytest.fail(f"StatisticsGen failed on KFP {kfp_version}:\n{failure.log[-3000:]}")
    finally:
        cluster.kfp_version = "2.5.0"
    executions = run.client.executions_in_dag(run.dag.id, run.pipeline)
    assert executions["StatisticsGen"].last_known_state == mlmd_pb2.Execution.COMPLETE
    uri = statistics.outputs["statistics"]
    assert uri.startswith(f"{run.pipeline.pipeline_root()}/StatisticsGen/")
    objects = cluster.stores.objects(uri)
    assert any(key.endswith("FeatureStats.pb") for key in objects), objects
    inputs = run.client.input_artifacts(statistics.execution_id)
    assert inputs["examples"].artifacts[0].uri == examples_uri
    assert executions["StatisticsGen"].custom_properties["namespace"].string_value == "team-s"
