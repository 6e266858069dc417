"""What the KFP driver and launcher record in ML Metadata, over the MLMD gRPC service.

A port of kubeflow/pipelines `backend/src/v2/metadata/client.go` and `metadata/converter.go`
at tag 2.5.0 (2.4.0 is the same for everything used here): contexts `system.Pipeline`
(keyed by the pipeline name alone, shared by every namespace) and `system.PipelineRun`
(keyed by the run id; its custom properties hold namespace, pipeline root and store
session), executions `system.DAGExecution` / `system.ContainerExecution`, artifacts typed
by their schema title with properties stored as custom properties, and INPUT/OUTPUT
events whose path is the artifact's name in the task.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any, Optional

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2
from ml_metadata.proto import metadata_store_service_pb2 as svc_pb2

PIPELINE_CONTEXT_TYPE = "system.Pipeline"
PIPELINE_RUN_CONTEXT_TYPE = "system.PipelineRun"
DAG_EXECUTION_TYPE = "system.DAGExecution"
CONTAINER_EXECUTION_TYPE = "system.ContainerExecution"


@dataclass
class Pipeline:
    """client.go Pipeline: the pipeline context and the run context."""

    context: mlmd_pb2.Context
    run_context: mlmd_pb2.Context

    def pipeline_root(self) -> str:
        """Pipeline.GetPipelineRoot: the run's root (`<root>/<pipeline name>/<run id>`)."""
        return self.run_context.custom_properties["pipeline_root"].string_value

    def store_session_info(self) -> str:
        return self.run_context.custom_properties["store_session_info"].string_value


@dataclass
class OutputArtifact:
    """client.go OutputArtifact: an artifact, its name in the producing task, its schema (empty when read back)."""

    name: str
    artifact: mlmd_pb2.Artifact
    schema: str = ""

    def to_runtime_artifact(self) -> kfp_pb2.RuntimeArtifact:
        """OutputArtifact.ToRuntimeArtifact: `type.instanceSchema` is the (here always empty) schema."""
        runtime = to_runtime_artifact(self.artifact)
        runtime.type.instance_schema = self.schema
        return runtime


def generate_output_uri(pipeline_root: str, paths: list[str], preserve_query: bool) -> str:
    """client.go GenerateOutputURI: `<root>/<path.Join(paths)>` (the root's query kept only when asked)."""
    root, _, query = pipeline_root.partition("?")
    suffix = f"?{query}" if query and preserve_query else ""
    return f"{root.rstrip('/')}/{posixpath.normpath(posixpath.join(*paths))}{suffix}"


def _string(value: str) -> mlmd_pb2.Value:
    return mlmd_pb2.Value(string_value=value)


def _struct(fields: Any) -> mlmd_pb2.Value:
    value = mlmd_pb2.Value()
    value.struct_value.SetInParent()
    for key, item in fields.items():
        value.struct_value.fields[key].CopyFrom(item)
    return value


def to_runtime_artifact(artifact: mlmd_pb2.Artifact) -> kfp_pb2.RuntimeArtifact:
    """converter.go toRuntimeArtifact: name = MLMD id, uri, properties and custom properties as metadata; no type."""
    runtime = kfp_pb2.RuntimeArtifact(name=str(artifact.id), uri=artifact.uri)
    runtime.metadata.SetInParent()
    for properties in (artifact.properties, artifact.custom_properties):
        for key, value in properties.items():
            kind = value.WhichOneof("value")
            if kind == "string_value":
                runtime.metadata.fields[key].string_value = value.string_value
            elif kind in ("double_value", "int_value"):
                runtime.metadata.fields[key].number_value = float(getattr(value, kind))
            elif kind == "struct_value":
                runtime.metadata.fields[key].struct_value.CopyFrom(value.struct_value)
            else:
                raise ValueError(f"unknown property type in MLMD artifact: {kind}")
    return runtime


def to_mlmd_artifact(runtime: kfp_pb2.RuntimeArtifact) -> mlmd_pb2.Artifact:
    """converter.go toMLMDArtifact: uri, and every metadata field as a custom property."""
    artifact = mlmd_pb2.Artifact(uri=runtime.uri)
    for key, value in runtime.metadata.fields.items():
        artifact.custom_properties[key].CopyFrom(struct_value_to_mlmd(value))
    return artifact


def struct_value_to_mlmd(value: struct_pb2.Value) -> mlmd_pb2.Value:
    """converter.go StructValueToMLMDValue: numbers as doubles, bools as ints, lists/structs wrapped."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return _string(value.string_value)
    if kind == "number_value":
        return mlmd_pb2.Value(double_value=value.number_value)
    if kind == "bool_value":
        return mlmd_pb2.Value(int_value=int(value.bool_value))
    if kind in ("list_value", "struct_value"):
        return _struct({kind.split("_")[0]: value})
    raise ValueError(f"unknown/unsupported value type {kind}")


def schema_title(schema: str) -> str:
    """client.go SchemaToArtifactType: the artifact type's name is the schema's `title`."""
    title = (yaml.safe_load(schema) or {}).get("title", "")
    if not title:
        raise ValueError("No title specified")  # the backend's glog.Fatal
    return str(title)


class MetadataClient:
    """The backend's MLMD client calls used by the driver and launcher, over a MetadataStoreService stub."""

    def __init__(self, stub: Any) -> None:
        self._svc = stub

    def _context(self, name: str, type_name: str, properties: Optional[dict[str, mlmd_pb2.Value]] = None) -> mlmd_pb2.Context:
        """getOrInsertContext: the context of `type_name` called `name`, created with `properties` if new."""
        found = self._svc.GetContextByTypeAndName(svc_pb2.GetContextByTypeAndNameRequest(type_name=type_name, context_name=name))
        if found.HasField("context"):
            return found.context
        type_id = self._svc.PutContextType(svc_pb2.PutContextTypeRequest(context_type=mlmd_pb2.ContextType(name=type_name))).type_id
        context = mlmd_pb2.Context(name=name, type_id=type_id)
        for key, value in (properties or {}).items():
            context.custom_properties[key].CopyFrom(value)
        self._svc.PutContexts(svc_pb2.PutContextsRequest(contexts=[context]))
        return self._svc.GetContextByTypeAndName(svc_pb2.GetContextByTypeAndNameRequest(type_name=type_name, context_name=name)).context

    def get_pipeline(
        self, pipeline_name: str, run_id: str, namespace: str = "", run_resource: str = "", pipeline_root: str = "", session: str = ""
    ) -> Pipeline:
        """client.go GetPipeline: pipeline context by name, run context by run id (its properties set at creation)."""
        pipeline_context = self._context(pipeline_name, PIPELINE_CONTEXT_TYPE)
        run_properties = {
            "namespace": _string(namespace),
            "resource_name": _string(run_resource),
            "pipeline_root": _string(generate_output_uri(pipeline_root, [pipeline_name, run_id], True)),
            "store_session_info": _string(session),
        }
        run_context = self._context(run_id, PIPELINE_RUN_CONTEXT_TYPE, run_properties)
        parents = self._svc.GetParentContextsByContext(svc_pb2.GetParentContextsByContextRequest(context_id=run_context.id)).contexts
        if not parents:
            self._svc.PutParentContexts(
                svc_pb2.PutParentContextsRequest(parent_contexts=[mlmd_pb2.ParentContext(child_id=run_context.id, parent_id=pipeline_context.id)])
            )
        elif len(parents) > 1 or parents[0].id != pipeline_context.id:
            raise RuntimeError(f"Parent context of run {run_id} is not pipeline context {pipeline_context.id}")
        return Pipeline(pipeline_context, run_context)

    def create_execution(
        self,
        pipeline: Pipeline,
        execution_type: str,
        *,
        name: str = "",
        task_name: str = "",
        parent_dag_id: int = 0,
        input_parameters: Optional[dict[str, struct_pb2.Value]] = None,
        input_artifact_ids: Optional[dict[str, list[int]]] = None,
        cached_execution_id: str = "",
        fingerprint: str = "",
        not_triggered: bool = False,
    ) -> mlmd_pb2.Execution:
        """client.go CreateExecution: a RUNNING execution in both contexts, with INPUT events for its artifacts."""
        type_id = self._svc.PutExecutionType(svc_pb2.PutExecutionTypeRequest(execution_type=mlmd_pb2.ExecutionType(name=execution_type))).type_id
        execution = mlmd_pb2.Execution(type_id=type_id)
        execution.custom_properties["display_name"].string_value = task_name
        execution.custom_properties["task_name"].string_value = task_name
        if name:
            execution.name = name
        execution.last_known_state = mlmd_pb2.Execution.CANCELED if not_triggered else mlmd_pb2.Execution.RUNNING
        if parent_dag_id:
            execution.custom_properties["parent_dag_id"].int_value = parent_dag_id
        if execution_type == CONTAINER_EXECUTION_TYPE:
            for key in ("pod_name", "pod_uid", "namespace", "image"):
                execution.custom_properties[key].string_value = ""
            if cached_execution_id:
                execution.custom_properties["cached_execution_id"].string_value = cached_execution_id
            if fingerprint:
                execution.custom_properties["cache_fingerprint"].string_value = fingerprint
        if input_parameters is not None:
            execution.custom_properties["inputs"].CopyFrom(_struct(input_parameters))
        request = svc_pb2.PutExecutionRequest(execution=execution, contexts=[pipeline.context, pipeline.run_context])
        for input_name, ids in (input_artifact_ids or {}).items():
            for artifact_id in ids:
                request.artifact_event_pairs.add().event.CopyFrom(
                    mlmd_pb2.Event(artifact_id=artifact_id, type=mlmd_pb2.Event.INPUT, path=_event_path(input_name))
                )
        execution_id = self._svc.PutExecution(request).execution_id
        return self.get_execution(execution_id)

    def get_execution(self, execution_id: int) -> mlmd_pb2.Execution:
        return self._svc.GetExecutionsByID(svc_pb2.GetExecutionsByIDRequest(execution_ids=[execution_id])).executions[0]

    def pre_publish(self, execution: mlmd_pb2.Execution, pod_name: str, pod_uid: str, namespace: str) -> None:
        """client.go PrePublishExecution: the launcher records its pod and namespace on the execution."""
        execution.custom_properties["pod_name"].string_value = pod_name
        execution.custom_properties["pod_uid"].string_value = pod_uid
        execution.custom_properties["namespace"].string_value = namespace
        execution.last_known_state = mlmd_pb2.Execution.RUNNING
        self._svc.PutExecution(svc_pb2.PutExecutionRequest(execution=execution))

    def publish_execution(
        self,
        execution: mlmd_pb2.Execution,
        pipeline: Optional[Pipeline],
        output_parameters: Optional[dict[str, struct_pb2.Value]],
        outputs: list[OutputArtifact],
        state: int,
    ) -> None:
        """client.go PublishExecution: final state, output parameters, OUTPUT events; artifacts join both contexts."""
        execution.last_known_state = state
        if output_parameters is not None:
            execution.custom_properties["outputs"].CopyFrom(_struct(output_parameters))
        contexts = [pipeline.context, pipeline.run_context] if pipeline is not None else []
        request = svc_pb2.PutExecutionRequest(execution=execution, contexts=contexts)
        for output in outputs:
            pair = request.artifact_event_pairs.add()
            pair.event.CopyFrom(mlmd_pb2.Event(type=mlmd_pb2.Event.OUTPUT, path=_event_path(output.name)))
            if output.artifact.id:
                pair.event.artifact_id = output.artifact.id
            else:
                pair.artifact.CopyFrom(output.artifact)
        self._svc.PutExecution(request)

    def record_artifact(self, output_name: str, schema: str, runtime: kfp_pb2.RuntimeArtifact, session_info: dict[str, Any]) -> OutputArtifact:
        """client.go RecordArtifact: a LIVE artifact of the type named by the schema title (no context yet)."""
        artifact = to_mlmd_artifact(runtime)
        type_id = self._svc.PutArtifactType(svc_pb2.PutArtifactTypeRequest(artifact_type=mlmd_pb2.ArtifactType(name=schema_title(schema)))).type_id
        artifact.type_id = type_id
        artifact.state = mlmd_pb2.Artifact.LIVE
        if "display_name" not in artifact.custom_properties:
            artifact.custom_properties["display_name"].string_value = output_name
        if "store_session_info" not in artifact.custom_properties:
            artifact.custom_properties["store_session_info"].string_value = json.dumps(session_info, separators=(",", ":"))
        artifact_id = self._svc.PutArtifacts(svc_pb2.PutArtifactsRequest(artifacts=[artifact])).artifact_ids[0]
        stored = self._svc.GetArtifactsByID(svc_pb2.GetArtifactsByIDRequest(artifact_ids=[artifact_id])).artifacts[0]
        return OutputArtifact(output_name, stored, runtime.type.instance_schema)

    def _artifacts_by_event(self, execution_id: int, event_type: int) -> dict[str, mlmd_pb2.Artifact]:
        events = self._svc.GetEventsByExecutionIDs(svc_pb2.GetEventsByExecutionIDsRequest(execution_ids=[execution_id])).events
        names = {event.artifact_id: event.path.steps[0].key for event in events if event.type == event_type}
        if not names:
            return {}
        artifacts = self._svc.GetArtifactsByID(svc_pb2.GetArtifactsByIDRequest(artifact_ids=list(names))).artifacts
        return {names[artifact.id]: artifact for artifact in artifacts}

    def output_artifacts(self, execution_id: int) -> dict[str, OutputArtifact]:
        """client.go GetOutputArtifactsByExecutionId: by output name, with an empty schema ("TODO(Bobgy)")."""
        return {name: OutputArtifact(name, artifact, "") for name, artifact in self._artifacts_by_event(execution_id, mlmd_pb2.Event.OUTPUT).items()}

    def input_artifacts(self, execution_id: int) -> dict[str, kfp_pb2.ArtifactList]:
        """client.go GetInputArtifactsByExecutionID."""
        found = self._artifacts_by_event(execution_id, mlmd_pb2.Event.INPUT)
        return {name: kfp_pb2.ArtifactList(artifacts=[to_runtime_artifact(a)]) for name, a in found.items()}

    def executions_in_dag(self, dag_id: int, pipeline: Pipeline) -> dict[str, mlmd_pb2.Execution]:
        """client.go GetExecutionsInDAG (filtered): the run's executions whose parent_dag_id is `dag_id`, by task name."""
        query = f"custom_properties.parent_dag_id.int_value = {dag_id}"
        found: dict[str, mlmd_pb2.Execution] = {}
        token = ""
        while True:
            options = mlmd_pb2.ListOperationOptions(filter_query=query, next_page_token=token)
            response = self._svc.GetExecutionsByContext(svc_pb2.GetExecutionsByContextRequest(context_id=pipeline.run_context.id, options=options))
            for execution in response.executions:
                task = execution.custom_properties["task_name"].string_value
                if task in found:
                    raise RuntimeError(f"two tasks have the same task name {task!r}")
                found[task] = execution
            token = response.next_page_token
            if not token:
                return found

    def put_execution_state(self, execution_id: int, state: int) -> None:
        """client.go PutDAGExecutionState."""
        execution = self.get_execution(execution_id)
        execution.last_known_state = state
        self._svc.PutExecution(svc_pb2.PutExecutionRequest(execution=execution))


def _event_path(name: str) -> mlmd_pb2.Event.Path:
    """client.go eventPath: the artifact's name in the task is the event's single key step."""
    path = mlmd_pb2.Event.Path()
    path.steps.add().key = name
    return path


def parameters_of(execution: mlmd_pb2.Execution, key: str) -> dict[str, struct_pb2.Value]:
    """Execution.GetParameters: the `inputs` or `outputs` struct custom property."""
    value = execution.custom_properties.get(key)
    return dict(value.struct_value.fields) if value is not None and value.HasField("struct_value") else {}


def pb_value_to_text(value: struct_pb2.Value) -> str:
    """converter.go PbValueToText, as the launcher also formats parameter placeholders (numbers via FormatFloat 'f', -1)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    return json.dumps(json_format.MessageToDict(value), separators=(",", ":"))


def executor_input_json(executor_input: kfp_pb2.ExecutorInput) -> str:
    """protojson.Marshal of the ExecutorInput (compact, lowerCamelCase field names)."""
    return json.dumps(json_format.MessageToDict(executor_input), separators=(",", ":"))
