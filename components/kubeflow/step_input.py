"""The ExecutorInput a KFP v2 step receives, made fit for TFX's executor runner, and its ExecutorOutput mapped back.

Two repairs (and the launcher's own outputs left to it), each against the backend's contract (kubeflow/pipelines 2.4.0 and 2.5.0):

- Types. The driver hands input artifacts over with an empty schema:
  `backend/src/v2/metadata/client.go` `GetOutputArtifactsByExecutionId` records
  `Schema: ""` and `OutputArtifact.ToRuntimeArtifact` sets `instanceSchema: ""`
  (`backend/src/v2/driver/driver.go` resolves upstream artifacts through it). TFX
  1.16 (`tfx/orchestration/kubeflow/v2/container/kubeflow_v2_entrypoint_utils.py`,
  `_retrieve_class_path`, tag v1.16.0) then calls `yaml.safe_load("").get` and dies.
  Every compiled step's args carry `--json_serialized_inputs_spec_args`: the
  component's input definitions, with each input's artifact type. An input whose
  type names no schema title gets the declared one.
- Paths. The launcher mirrors object-store artifacts on local disk
  (components/kubeflow/mirror.py): inputs are downloaded there before the
  command runs, outputs uploaded from there after. TFX executors get the mirror
  paths as `uri` (tf.io.gfile and Beam know neither `minio://` nor, without extras,
  `s3://`); the URIs reported in the ExecutorOutput are mapped back, since the
  launcher's `mergeRuntimeArtifacts` copies a reported `uri` over the output's and
  then uploads from *that* URI's mirror path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from retrain.components.kubeflow.mirror import mirror_path

# Outputs the launcher writes itself: on KFP 2.5.0 (PUBLISH_LOGS "true" in the API server's manifest) the driver adds
# `executor-logs` (type `system.Artifact`, which TFX cannot import) to every step and the launcher writes the pod's log
# there (backend/src/v2/driver/driver.go provisionOutputs, component/launcher_v2.go getLogWriter, 2.5.0; not in 2.4.0).
LAUNCHER_OUTPUTS = ("executor-logs",)


@dataclass(frozen=True)
class PreparedStep:
    """The repaired ExecutorInput (JSON, for `--json_serialized_invocation_args`) and the mirror path -> URI map."""

    invocation_json: str
    output_file: str
    uris_by_mirror_path: dict[str, str]


def schema_title(type_schema: pipeline_spec_pb2.ArtifactTypeSchema) -> Optional[str]:
    """The schema title an artifact type names, or None (no kind, or an instance schema without a title)."""
    kind = type_schema.WhichOneof("kind")
    if kind == "schema_title":
        return type_schema.schema_title or None
    if kind == "instance_schema":
        schema = yaml.safe_load(type_schema.instance_schema)
        return schema.get("title") if isinstance(schema, dict) else None
    return None


def recover_input_types(executor_input: pipeline_spec_pb2.ExecutorInput, inputs_spec: Optional[pipeline_spec_pb2.ComponentInputsSpec]) -> None:
    """Gives every input artifact without a schema title the type its component declares for that input."""
    for key, artifact_list in executor_input.inputs.artifacts.items():
        for artifact in artifact_list.artifacts:
            if schema_title(artifact.type) is not None:
                continue
            declared = inputs_spec.artifacts.get(key) if inputs_spec is not None else None
            if declared is None or schema_title(declared.artifact_type) is None:
                raise ValueError(f"input artifact {key!r} has no type and the step's inputs spec declares none for it")
            artifact.type.CopyFrom(declared.artifact_type)


def use_mirror_paths(executor_input: pipeline_spec_pb2.ExecutorInput) -> dict[str, str]:
    """Points every object-store input and output artifact at its launcher mirror path; returns mirror path -> URI."""
    uris_by_path: dict[str, str] = {}
    for artifact_map in (executor_input.inputs.artifacts, executor_input.outputs.artifacts):
        for artifact_list in artifact_map.values():
            for artifact in artifact_list.artifacts:
                path = mirror_path(artifact.uri)
                if path is not None:
                    uris_by_path[path] = artifact.uri
                    artifact.uri = path
    return uris_by_path


def prepare_step(invocation_json: str, inputs_spec_json: Optional[str]) -> PreparedStep:
    """The ExecutorInput as the TFX runner can use it: input types recovered, artifacts at their mirror paths."""
    executor_input = json_format.Parse(invocation_json, pipeline_spec_pb2.ExecutorInput(), ignore_unknown_fields=True)
    inputs_spec = None
    if inputs_spec_json:
        inputs_spec = json_format.Parse(inputs_spec_json, pipeline_spec_pb2.ComponentInputsSpec(), ignore_unknown_fields=True)
    recover_input_types(executor_input, inputs_spec)
    for key in LAUNCHER_OUTPUTS:
        if key in executor_input.outputs.artifacts:
            del executor_input.outputs.artifacts[key]
    uris_by_path = use_mirror_paths(executor_input)
    return PreparedStep(json_format.MessageToJson(executor_input), executor_input.outputs.output_file, uris_by_path)


def restore_output_uris(executor_output: pipeline_spec_pb2.ExecutorOutput, uris_by_mirror_path: dict[str, str]) -> None:
    """Reports each output at the URI the driver gave it, not at its mirror path."""
    for artifact_list in executor_output.artifacts.values():
        for artifact in artifact_list.artifacts:
            artifact.uri = uris_by_mirror_path.get(artifact.uri, artifact.uri)
