"""The KFP v2 driver: the root DAG of a run, and what happens before each container step starts.

A port of kubeflow/pipelines `backend/src/v2/driver/driver.go` (RootDAG, Container,
resolveInputs, resolveInputParameter, resolveUpstreamArtifacts, provisionOutputs,
reuseCachedOutputs) at tag 2.5.0; where 2.4.x differs (no `executor-logs` output; at 2.4.0 the
Kubernetes executor config parsed strictly by `cmd/driver/main.go`) `kfp_version` selects it.
Input artifacts come from the producer's OUTPUT events in ML Metadata and reach the step
with an EMPTY `type.instanceSchema` (`metadata/client.go` ToRuntimeArtifact, both tags).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from kfp_local.cache import TaskCache, cache_key, fingerprint
from kfp_local.metadata import (
    CONTAINER_EXECUTION_TYPE,
    DAG_EXECUTION_TYPE,
    MetadataClient,
    OutputArtifact,
    Pipeline,
    generate_output_uri,
    parameters_of,
    pb_value_to_text,
)
from kfp_local.object_store import parse_bucket_config

DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"  # config/env.go defaultPipelineRoot (2.4.0, 2.5.0)
OUTPUT_METADATA_FILE = "/tmp/kfp_outputs/output_metadata.json"  # component.OutputMetadataFilepath
EXECUTOR_LOGS = "executor-logs"  # driver.go provisionOutputs (2.5.0; absent in 2.4.0 and 2.4.1)
KFP_VERSIONS = ("2.4.0", "2.4.1", "2.5.0")
_ParameterType = kfp_pb2.ParameterType


class DriverError(RuntimeError):
    """A driver failure: the run stops before the step's pod starts."""


@dataclass
class StepOptions:
    """driver.Options for one container task."""

    pipeline_name: str
    run_id: str
    run_display_name: str
    namespace: str
    task: kfp_pb2.PipelineTaskSpec
    component: kfp_pb2.ComponentSpec
    container: kfp_pb2.PipelineDeploymentConfig.PipelineContainerSpec
    kubernetes_config: dict[str, Any] = field(default_factory=dict)
    kfp_version: str = "2.5.0"

    @property
    def publish_logs(self) -> bool:
        """The driver's `--publish_logs` flag defaults to "true" (cmd/driver/main.go, 2.5.0); 2.4.0 and 2.4.1 have none."""
        return self.kfp_version not in ("2.4.0", "2.4.1")


@dataclass
class DriverResult:
    """What the driver hands the launcher (or, on a cache hit, the end of the task)."""

    execution: mlmd_pb2.Execution
    executor_input: kfp_pb2.ExecutorInput
    pipeline: Pipeline
    fingerprint: str
    cached: bool


def check_kubernetes_config(config: dict[str, Any], kfp_version: str) -> None:
    """cmd/driver/main.go: 2.4.0 parses the executor config with jsonpb, rejecting unknown fields; 2.4.1 and 2.5.0 with
    util.UnmarshalString (`AllowUnknownFields: true`, common/util/json.go). Each with its tag's proto (tests/backend_protos.py)."""
    from backend_protos import executor_config_class

    try:
        json_format.ParseDict(config, executor_config_class(kfp_version)(), ignore_unknown_fields=kfp_version != "2.4.0")
    except json_format.ParseError as error:
        raise DriverError(f"failed to unmarshal Kubernetes config (KFP {kfp_version} driver): {error}") from error


DEFAULT_MINIO_ENDPOINT = "minio-service.kubeflow:9000"  # objectstore/config.go defaultMinioEndpointInMultiUserMode


def store_session_info(pipeline_root: str, minio_endpoint: str = DEFAULT_MINIO_ENDPOINT) -> dict[str, Any]:
    """config.GetStoreSessionInfo for the default MinIO store and for other providers (from the environment).

    `minio_endpoint` is what `objectstore.MinioDefaultEndpoint` finds in the driver pod
    (`MINIO_SERVICE_SERVICE_HOST:PORT`, else DEFAULT_MINIO_ENDPOINT; 2.4.0 and 2.5.0).
    """
    config = parse_bucket_config(pipeline_root)
    provider = config.scheme[: -len("://")]
    if provider == "minio":
        params = {
            "region": "minio",
            "endpoint": minio_endpoint,
            "disableSSL": "true",
            "fromEnv": "false",
            "secretName": "mlpipeline-minio-artifact",
            "accessKeyKey": "accesskey",
            "secretKeyKey": "secretkey",
        }
        return {"Provider": provider, "Params": params}
    return {"Provider": provider, "Params": {"fromEnv": "true"}}


def root_dag(
    client: MetadataClient,
    pipeline_name: str,
    run_id: str,
    namespace: str,
    runtime_config: kfp_pb2.PipelineJob.RuntimeConfig,
    launcher_default_root: Optional[str] = None,
    minio_endpoint: str = DEFAULT_MINIO_ENDPOINT,
) -> tuple[Pipeline, mlmd_pb2.Execution]:
    """RootDAG: the run's root comes from the run (`gcs_output_directory`), else the kfp-launcher ConfigMap, else MinIO.

    The PipelineSpec's `defaultPipelineRoot` is never read. A root the object store
    cannot parse (a bare path) fails here, as `GetStoreSessionInfo` does.
    """
    if not namespace:
        raise DriverError("invalid root DAG driver args: namespace is required")
    pipeline_root = runtime_config.gcs_output_directory or launcher_default_root or DEFAULT_PIPELINE_ROOT
    try:
        session = store_session_info(pipeline_root, minio_endpoint)
    except ValueError as error:
        raise DriverError(f"driver.RootDAG failed: {error}") from error
    pipeline = client.get_pipeline(pipeline_name, run_id, namespace, "run-resource", pipeline_root, json.dumps(session))
    execution = client.create_execution(
        pipeline, DAG_EXECUTION_TYPE, name=f"run/{run_id}", input_parameters=dict(runtime_config.parameter_values), input_artifact_ids={}
    )
    return pipeline, execution


def runtime_config_with_defaults(
    spec: kfp_pb2.PipelineSpec, parameter_values: dict[str, Any], pipeline_root: str = ""
) -> kfp_pb2.PipelineJob.RuntimeConfig:
    """The run's runtime config: given values, then the root's defaults (argocompiler/argo.go, 2.5.0)."""
    config = kfp_pb2.PipelineJob.RuntimeConfig(gcs_output_directory=pipeline_root)
    for name, value in parameter_values.items():
        config.parameter_values[name].CopyFrom(json_format.ParseDict(value, struct_pb2.Value()))
    for name, parameter in spec.root.input_definitions.parameters.items():
        if name not in config.parameter_values:
            if parameter.HasField("default_value"):
                config.parameter_values[name].CopyFrom(parameter.default_value)
            elif parameter.is_optional:
                config.parameter_values[name].null_value = struct_pb2.NULL_VALUE
    return config


def _resolve_parameter(
    spec: kfp_pb2.TaskInputsSpec.InputParameterSpec, dag_inputs: dict[str, struct_pb2.Value], opts: StepOptions, dag_id: int, upstream: "_Upstream"
) -> Optional[struct_pb2.Value]:
    """resolveInputParameter; None where the backend returns ErrResolvedParameterNull."""
    kind = spec.WhichOneof("kind")
    if kind == "task_output_parameter":
        producer, key = spec.task_output_parameter.producer_task, spec.task_output_parameter.output_parameter_key
        outputs = parameters_of(upstream.task(producer), "outputs")  # resolveUpstreamParameters, container producer
        if key not in outputs:
            raise DriverError(f"output parameter {key!r} of producer task {producer!r} not found")
        return outputs[key]
    if kind == "component_input_parameter":
        name = spec.component_input_parameter
        if name not in dag_inputs:
            raise DriverError(f"parent DAG does not have input parameter {name}")
        value = dag_inputs[name]
        return None if value.WhichOneof("kind") == "null_value" else value
    if kind == "runtime_value":
        constant = spec.runtime_value.constant
        special = {
            "{{$.pipeline_job_name}}": opts.run_display_name,
            "{{$.pipeline_job_resource_name}}": "run-resource",
            "{{$.pipeline_job_uuid}}": opts.run_id,
            "{{$.pipeline_task_name}}": opts.task.task_info.name,
            "{{$.pipeline_task_uuid}}": str(dag_id),
        }
        if constant.WhichOneof("kind") == "string_value" and constant.string_value in special:
            return struct_pb2.Value(string_value=special[constant.string_value])
        return constant
    raise DriverError(f"parameter spec of type {kind} not implemented here (the retrain pipeline has none)")


@dataclass
class _Upstream:
    """The DAG's task executions by task name (getDAGTasks), read once per driver call."""

    client: MetadataClient
    dag_id: int
    pipeline: Pipeline
    _tasks: Optional[dict[str, mlmd_pb2.Execution]] = None

    def task(self, name: str) -> mlmd_pb2.Execution:
        if self._tasks is None:
            self._tasks = self.client.executions_in_dag(self.dag_id, self.pipeline)
        if name not in self._tasks:
            raise DriverError(f"cannot find producer task {name!r}")
        return self._tasks[name]


def _check_parameter_types(inputs: kfp_pb2.ExecutorInput.Inputs, component: kfp_pb2.ComponentSpec) -> None:
    """resolveInputs' handleParamTypeValidationAndConversion."""
    expected_kind = {
        _ParameterType.NUMBER_DOUBLE: "number_value",
        _ParameterType.NUMBER_INTEGER: "number_value",
        _ParameterType.BOOLEAN: "bool_value",
        _ParameterType.LIST: "list_value",
        _ParameterType.STRUCT: "struct_value",
    }
    for name, spec in component.input_definitions.parameters.items():
        if name not in inputs.parameter_values:
            if not spec.is_optional and not spec.HasField("default_value"):
                raise DriverError(f"neither value nor default value provided for non-optional parameter {name!r}")
            continue
        value = inputs.parameter_values[name]
        kind = value.WhichOneof("kind")
        if spec.parameter_type == _ParameterType.STRING:
            if kind != "string_value":
                inputs.parameter_values[name].CopyFrom(struct_pb2.Value(string_value=pb_value_to_text(value)))
        elif kind == "null_value":
            raise DriverError(f"got null for input parameter {name!r}")
        elif kind != expected_kind.get(spec.parameter_type):
            raise DriverError(f"input parameter {name!r} type mismatch: expect {_ParameterType.Name(spec.parameter_type)}, got {kind}")


def resolve_inputs(client: MetadataClient, dag: mlmd_pb2.Execution, pipeline: Pipeline, opts: StepOptions) -> kfp_pb2.ExecutorInput.Inputs:
    """resolveInputs: parameters from the DAG's inputs or constants, artifacts from the producers' outputs."""
    dag_inputs = parameters_of(dag, "inputs")
    upstream = _Upstream(client, dag.id, pipeline)
    inputs = kfp_pb2.ExecutorInput.Inputs()
    for name, spec in opts.task.inputs.parameters.items():
        value = _resolve_parameter(spec, dag_inputs, opts, dag.id, upstream)
        if value is None:
            if opts.component.input_definitions.parameters[name].is_optional:
                continue
            raise DriverError(f"resolving input parameter {name!r}: resolved to null")
        inputs.parameter_values[name].CopyFrom(value)
    for name, spec in opts.task.inputs.artifacts.items():
        if spec.WhichOneof("kind") != "task_output_artifact":
            raise DriverError(f"artifact spec of type {spec.WhichOneof('kind')} not implemented here")
        producer = spec.task_output_artifact.producer_task
        outputs = client.output_artifacts(upstream.task(producer).id)
        key = spec.task_output_artifact.output_artifact_key
        if key not in outputs:
            raise DriverError(f"cannot find output artifact key {key!r} in producer task {producer!r}")
        inputs.artifacts[name].artifacts.append(outputs[key].to_runtime_artifact())
    _check_parameter_types(inputs, opts.component)
    return inputs


def provision_outputs(
    pipeline_root: str, task_name: str, outputs_spec: kfp_pb2.ComponentOutputsSpec, salt: str, publish_logs: bool
) -> kfp_pb2.ExecutorInput.Outputs:
    """provisionOutputs: one URI per output under `<run root>/<task>/<uuid>/<name>`, output files under /tmp."""
    outputs = kfp_pb2.ExecutorInput.Outputs(output_file=OUTPUT_METADATA_FILE)
    artifacts = dict(outputs_spec.artifacts)
    if publish_logs:
        artifacts[EXECUTOR_LOGS] = kfp_pb2.ComponentOutputsSpec.ArtifactSpec(artifact_type=kfp_pb2.ArtifactTypeSchema(schema_title="system.Artifact"))
    for name, artifact in artifacts.items():
        runtime = outputs.artifacts[name].artifacts.add()
        runtime.uri = generate_output_uri(pipeline_root, [task_name, salt, name], False)
        runtime.type.CopyFrom(artifact.artifact_type)
        if artifact.HasField("metadata"):
            runtime.metadata.CopyFrom(artifact.metadata)
    for name in outputs_spec.parameters:
        outputs.parameters[name].output_file = f"/tmp/kfp/outputs/{name}"
    return outputs


def container(client: MetadataClient, cache: TaskCache, opts: StepOptions, dag: mlmd_pb2.Execution, pipeline: Pipeline) -> DriverResult:
    """driver.Container: resolve inputs, provision outputs, look the step up in the cache, create its execution.

    On a cache hit the execution is published CACHED with the cached execution's
    outputs (reuseCachedOutputs) and no pod starts.
    """
    if opts.task.trigger_policy.condition:
        raise DriverError("trigger conditions are not implemented here (the retrain pipeline has none)")
    executor_input = kfp_pb2.ExecutorInput(inputs=resolve_inputs(client, dag, pipeline, opts))
    executor_input.outputs.CopyFrom(
        provision_outputs(pipeline.pipeline_root(), opts.task.task_info.name, opts.component.output_definitions, str(uuid.uuid4()), opts.publish_logs)
    )
    enabled = opts.task.caching_options.enable_cache
    fingerprint_ = ""
    cached_id = ""
    if enabled:
        output_types = {name: _ParameterType.Name(spec.parameter_type) for name, spec in opts.component.output_definitions.parameters.items()}
        key = cache_key(executor_input, output_types, [*opts.container.command, *opts.container.args], opts.container.image)
        fingerprint_ = fingerprint(key)
        cached_id = cache.get_execution_cache(fingerprint_, f"pipeline/{opts.pipeline_name}", opts.namespace)
    input_ids = {name: [int(a.name) for a in artifacts.artifacts] for name, artifacts in executor_input.inputs.artifacts.items()}
    execution = client.create_execution(
        pipeline,
        CONTAINER_EXECUTION_TYPE,
        task_name=opts.task.task_info.name,
        parent_dag_id=dag.id,
        input_parameters=dict(executor_input.inputs.parameter_values),
        input_artifact_ids=input_ids,
        cached_execution_id=cached_id,
        fingerprint=fingerprint_,
    )
    if enabled and cached_id:
        _reuse_cached_outputs(client, executor_input, execution, pipeline, int(cached_id))
        return DriverResult(execution, executor_input, pipeline, fingerprint_, cached=True)
    return DriverResult(execution, executor_input, pipeline, fingerprint_, cached=False)


def _reuse_cached_outputs(
    client: MetadataClient, executor_input: kfp_pb2.ExecutorInput, execution: mlmd_pb2.Execution, pipeline: Pipeline, cached_id: int
) -> None:
    """reuseCachedOutputs + PublishExecution(CACHED): the cached execution's output parameters and artifacts."""
    cached = client.get_execution(cached_id)
    outputs = client.output_artifacts(cached_id)
    reused: list[OutputArtifact] = []
    for name, artifacts in executor_input.outputs.artifacts.items():
        if not artifacts.artifacts:
            continue
        if name not in outputs:
            raise DriverError(f"unable to find artifact with name {name} in mlmd output artifacts")
        reused.append(OutputArtifact(name, outputs[name].artifact, artifacts.artifacts[0].type.instance_schema))
    client.publish_execution(execution, pipeline, parameters_of(cached, "outputs"), reused, mlmd_pb2.Execution.CACHED)
