"""The KFP v2 launcher: runs one step's container command the way `launcher-v2` does in the pod.

A port of kubeflow/pipelines `backend/src/v2/component/launcher_v2.go` (Execute,
executeV2, addDefaultParams, getPlaceholders, downloadArtifacts, execute, getLogWriter,
getExecutorOutputFile, collectOutputParameters, uploadOutputArtifacts, getArtifactSchema)
at tag 2.5.0 (2.4.0 and 2.4.1: no executor-logs output).

Substitutions (a process here, a pod there), each explicit:
- the pod's filesystem: the launcher's absolute paths (`/minio`, `/s3`, `/gcs` mirrors,
  `/tmp/kfp_outputs/output_metadata.json`, `/tmp/kfp/outputs/<name>`) live under a fresh
  directory per step (`pod_root`), as every pod starts with empty emptyDirs and /tmp;
  the step gets `pod_root` in `RETRAIN_KFP_MIRROR_PREFIX` (components/kubeflow/mirror.py);
- the pod's namespace: the driver and launcher read it from the service-account mount
  (`config/env.go` InPodNamespace); the step gets it in `RETRAIN_KFP_NAMESPACE`
  (components/resolvers/kfp/namespace.py), which reads the same mount in a pod;
- the container image: the step's command runs in a subprocess with `step_env` (this
  repository on PYTHONPATH, the test venv's `python` first on PATH), command and args
  exactly as compiled, placeholders substituted as the launcher does;
- the pod's environment: `metadata-grpc-configmap` (METADATA_GRPC_SERVICE_HOST/PORT),
  KFP_POD_NAME/KFP_POD_UID, the container's `env`, and `secretAsEnv` values from the
  cluster's Secrets (a missing Secret or key fails the pod, as the kubelet does).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from retrain.components.kubeflow.mirror import MIRROR_PREFIX_ENV
from retrain.components.resolvers.kfp.namespace import NAMESPACE_ENV
from kfp_local.cache import CachedTask, TaskCache
from kfp_local.driver import EXECUTOR_LOGS, DriverResult, StepOptions
from kfp_local.metadata import MetadataClient, OutputArtifact, executor_input_json, pb_value_to_text
from kfp_local.object_store import (
    UnsupportedURI,
    download_blob,
    local_path_for_uri,
    parse_bucket_config,
    parse_bucket_config_for_artifact_uri,
    upload_blob,
)
from kfp_local.services import ObjectStores


class StepFailed(RuntimeError):
    """The step's command exited non-zero (the launcher publishes the execution FAILED)."""

    def __init__(self, task: str, returncode: int, log: str) -> None:
        super().__init__(f"step {task} failed (exit {returncode}); log tail:\n{log[-6000:]}")
        self.task, self.returncode, self.log = task, returncode, log


@dataclass
class Pod:
    """Where one step runs: its filesystem root and its environment."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # Secret name -> key -> value


def in_pod(path: str, pod: Pod) -> str:
    """An absolute path of the pod (`/tmp/...`) at its place under `pod.root`."""
    return f"{pod.root}{path}"


def add_default_params(executor_input: kfp_pb2.ExecutorInput, component: kfp_pb2.ComponentSpec) -> kfp_pb2.ExecutorInput:
    """addDefaultParams: a copy with each missing input parameter set to its component default."""
    with_defaults = kfp_pb2.ExecutorInput()
    with_defaults.CopyFrom(executor_input)
    for name, spec in component.input_definitions.parameters.items():
        if spec.HasField("default_value") and name not in with_defaults.inputs.parameter_values:
            with_defaults.inputs.parameter_values[name].CopyFrom(spec.default_value)
    return with_defaults


def placeholders(executor_input: kfp_pb2.ExecutorInput, pod: Pod) -> dict[str, str]:
    """getPlaceholders: `{{$}}` is the executor input as JSON; artifact uri/path, parameters, output files."""
    found = {"{{$}}": executor_input_json(executor_input)}
    for name, artifacts in executor_input.inputs.artifacts.items():
        if artifacts.artifacts:
            uri = artifacts.artifacts[0].uri
            found[f"{{{{$.inputs.artifacts['{name}'].uri}}}}"] = uri
            try:
                found[f"{{{{$.inputs.artifacts['{name}'].path}}}}"] = local_path_for_uri(uri, pod.root)
            except UnsupportedURI:
                pass
    for name, artifacts in executor_input.outputs.artifacts.items():
        if artifacts.artifacts:
            uri = artifacts.artifacts[0].uri
            found[f"{{{{$.outputs.artifacts['{name}'].uri}}}}"] = uri
            found[f"{{{{$.outputs.artifacts['{name}'].path}}}}"] = local_path_for_uri(uri, pod.root)
    for name, value in executor_input.inputs.parameter_values.items():
        found[f"{{{{$.inputs.parameters['{name}']}}}}"] = pb_value_to_text(value)
    for name, parameter in executor_input.outputs.parameters.items():
        found[f"{{{{$.outputs.parameters['{name}'].output_file}}}}"] = parameter.output_file
    return found


def _pod_paths(executor_input: kfp_pb2.ExecutorInput, pod: Pod) -> kfp_pb2.ExecutorInput:
    """The executor input with the driver's /tmp output files placed in the pod (see the module docstring)."""
    placed = kfp_pb2.ExecutorInput()
    placed.CopyFrom(executor_input)
    placed.outputs.output_file = in_pod(executor_input.outputs.output_file, pod)
    for parameter in placed.outputs.parameters.values():
        parameter.output_file = in_pod(parameter.output_file, pod)
    return placed


def download_artifacts(executor_input: kfp_pb2.ExecutorInput, stores: ObjectStores, pipeline_root: str, pod: Pod) -> None:
    """downloadArtifacts: each input's objects to its local mirror path (other buckets opened as needed)."""
    default = parse_bucket_config(pipeline_root)
    for artifacts in executor_input.inputs.artifacts.values():
        if not artifacts.artifacts:
            continue
        uri = artifacts.artifacts[0].uri
        try:
            local = local_path_for_uri(uri, pod.root)
        except UnsupportedURI:
            continue  # "does not have a recognized storage URI ... Skipping downloading"
        config = default if uri.startswith(default.prefixed_bucket()) else parse_bucket_config_for_artifact_uri(uri)
        download_blob(stores.open_bucket(config), local, config.key_from_uri(uri))


def prepare_output_folders(executor_input: kfp_pb2.ExecutorInput, pod: Pod) -> None:
    """prepareOutputFolders: parent directories of output files and of each output's mirror path."""
    for parameter in executor_input.outputs.parameters.values():
        os.makedirs(os.path.dirname(parameter.output_file), exist_ok=True)
    for artifacts in executor_input.outputs.artifacts.values():
        for artifact in artifacts.artifacts:
            os.makedirs(os.path.dirname(local_path_for_uri(artifact.uri, pod.root)), exist_ok=True)


def step_environment(opts: StepOptions, pod: Pod, metadata_host: str, metadata_port: int) -> dict[str, str]:
    """The user container's environment: image env, metadata-grpc-configmap, pod fields, container env, secrets."""
    env = dict(pod.env)
    env.update(
        {
            "METADATA_GRPC_SERVICE_HOST": metadata_host,
            "METADATA_GRPC_SERVICE_PORT": str(metadata_port),
            "KFP_POD_NAME": pod.root.name,
            "KFP_POD_UID": str(uuid.uuid5(uuid.NAMESPACE_URL, str(pod.root))),
            MIRROR_PREFIX_ENV: str(pod.root),
            NAMESPACE_ENV: opts.namespace,
        }
    )
    for variable in opts.container.env:
        env[variable.name] = variable.value
    for secret in opts.kubernetes_config.get("secretAsEnv", []):
        name = secret.get("secretName") or secret.get("secretNameParameter", {}).get("runtimeValue", {}).get("constant", "")
        for mapping in secret.get("keyToEnv", []):
            env[mapping["envVar"]] = secret_key(pod, name, mapping["secretKey"])
    return env


class PodNotStarted(RuntimeError):
    """The kubelet cannot start the step's container (CreateContainerConfigError)."""


def secret_key(pod: Pod, name: str, key: str) -> str:
    """A `secretKeyRef` env value: the driver sets no `optional` (driver.go, 2.4.0 and 2.5.0), so a missing Secret
    or key keeps the container from starting (kubelet's CreateContainerConfigError)."""
    if name not in pod.secrets:
        raise PodNotStarted(f'CreateContainerConfigError: secret "{name}" not found')
    if key not in pod.secrets[name]:
        raise PodNotStarted(f"CreateContainerConfigError: couldn't find key {key} in Secret {name}")
    return pod.secrets[name][key]


def run_command(command: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> tuple[int, str]:
    """execute(): the user command with stdout and stderr to one log (the pod's log; executor-logs on 2.5.0)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        returncode = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, check=False).returncode
    return returncode, log_path.read_text(errors="replace")


def read_executor_output(path: str) -> kfp_pb2.ExecutorOutput:
    """getExecutorOutputFile: the step's output metadata, or an empty ExecutorOutput when it wrote none."""
    output = kfp_pb2.ExecutorOutput()
    if os.path.exists(path):
        with open(path) as handle:
            json_format.Parse(handle.read(), output)  # protojson.Unmarshal: unknown fields are an error
    return output


def collect_output_parameters(executor_input: kfp_pb2.ExecutorInput, output: kfp_pb2.ExecutorOutput, component: kfp_pb2.ComponentSpec) -> None:
    """collectOutputParameters: parameters not in the output metadata are read from their output files."""
    for name, parameter in executor_input.outputs.parameters.items():
        if name in output.parameter_values:
            continue
        spec = component.output_definitions.parameters[name]
        with open(parameter.output_file) as handle:
            text = handle.read()
        if spec.parameter_type == kfp_pb2.ParameterType.STRING:
            output.parameter_values[name].string_value = text
        else:
            output.parameter_values[name].CopyFrom(json_format.Parse(text, struct_pb2.Value()))


def artifact_schema(artifact_type: kfp_pb2.ArtifactTypeSchema) -> str:
    """getArtifactSchema: the instance schema, or `title: <schema title>`."""
    kind = artifact_type.WhichOneof("kind")
    if kind == "instance_schema":
        return artifact_type.instance_schema
    if kind == "schema_title":
        return f"title: {artifact_type.schema_title}"
    raise ValueError(f"unsupported ArtifactTypeSchema kind {kind}")


def upload_output_artifacts(
    executor_input: kfp_pb2.ExecutorInput,
    output: kfp_pb2.ExecutorOutput,
    client: MetadataClient,
    stores: ObjectStores,
    pipeline_root: str,
    session: dict[str, Any],
    pod: Pod,
) -> list[OutputArtifact]:
    """uploadOutputArtifacts: merge the step's metadata, upload each output's mirror, record it in MLMD."""
    bucket_config = parse_bucket_config(pipeline_root)
    bucket = stores.open_bucket(bucket_config)
    recorded = []
    for name, artifacts in executor_input.outputs.artifacts.items():
        for artifact in artifacts.artifacts:
            reported = output.artifacts.get(name)
            if reported is not None and reported.artifacts:  # mergeRuntimeArtifacts
                if reported.artifacts[0].uri:
                    artifact.uri = reported.artifacts[0].uri
                for key, value in reported.artifacts[0].metadata.fields.items():
                    artifact.metadata.fields[key].CopyFrom(value)
            try:
                local = local_path_for_uri(artifact.uri, pod.root)
            except UnsupportedURI:
                local = None  # "does not have a recognized storage URI ... Skipping uploading"
            if local is not None:
                try:
                    upload_blob(bucket, local, bucket_config.key_from_uri(artifact.uri))
                except FileNotFoundError:
                    pass  # "We allow components to not produce output files"
            recorded.append(client.record_artifact(name, artifact_schema(artifact.type), artifact, session))
    return recorded


def launch(
    client: MetadataClient,
    cache: TaskCache,
    stores: ObjectStores,
    opts: StepOptions,
    driven: DriverResult,
    pod: Pod,
    metadata_address: tuple[str, int],
) -> None:
    """LauncherV2.Execute: pre-publish, run the step, upload and record its outputs, publish, add the cache entry.

    The execution is published FAILED (and StepFailed raised) when the command fails.
    """
    started = time.time()
    execution = client.get_execution(driven.execution.id)
    client.pre_publish(execution, pod.root.name, "", opts.namespace)
    pipeline_root = driven.pipeline.pipeline_root()
    session = json.loads(driven.pipeline.store_session_info() or "{}")
    executor_input = _pod_paths(driven.executor_input, pod)
    state, outputs, output = mlmd_pb2.Execution.FAILED, [], kfp_pb2.ExecutorOutput()
    try:
        prepare_output_folders(executor_input, pod)
        values = placeholders(add_default_params(executor_input, opts.component), pod)
        command = []
        for part in [*opts.container.command, *opts.container.args]:
            for placeholder, replacement in values.items():
                part = part.replace(placeholder, replacement)
            command.append(part)
        download_artifacts(executor_input, stores, pipeline_root, pod)
        logs = executor_input.outputs.artifacts.get(EXECUTOR_LOGS)
        log_path = Path(local_path_for_uri(logs.artifacts[0].uri, pod.root)) if logs is not None else pod.root / "pod.log"
        env = step_environment(opts, pod, *metadata_address)
        returncode, log = run_command(command, env, log_path, pod.root)
        if returncode != 0:
            raise StepFailed(opts.task.task_info.name, returncode, log)
        output = read_executor_output(executor_input.outputs.output_file)
        collect_output_parameters(executor_input, output, opts.component)
        outputs = upload_output_artifacts(executor_input, output, client, stores, pipeline_root, session, pod)
        state = mlmd_pb2.Execution.COMPLETE
    finally:
        client.publish_execution(execution, driven.pipeline, dict(output.parameter_values), outputs, state)
    if driven.fingerprint:
        cache.create_execution_cache(
            CachedTask(driven.fingerprint, f"pipeline/{opts.pipeline_name}", opts.namespace, opts.run_id, str(execution.id), started)
        )
