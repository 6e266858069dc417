"""Test helper: the ExecutorInput the KFP v2 driver builds for a task of a compiled PipelineSpec.

As kubeflow/pipelines `backend/src/v2/driver/driver.go` (2.4.0 and 2.5.0) does:
upstream artifacts come from the producer's MLMD outputs through
`OutputArtifact.ToRuntimeArtifact` with `instanceSchema: ""` and the MLMD id as
name (`backend/src/v2/metadata/client.go`, `GetOutputArtifactsByExecutionId`);
outputs get `GenerateOutputURI(runRoot, [task, salt, key])` and the component's
declared type (`provisionOutputs`), output parameters a file under
/tmp/kfp/outputs; constant, runtime and upstream-output parameters are resolved
to values. `cache_key` is `cacheutils.GenerateCacheKey` + `GenerateFingerPrint`
(`backend/src/v2/cacheutils/cache.go`): the sha256 of the key's JSON with sorted keys.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

RUN_ROOT = "minio://mlpipeline/v2/artifacts/retrain/run-1"
OUTPUT_SALT = "salt"


def output_uri(task: str, key: str, run_root: str = RUN_ROOT) -> str:
    """Where the driver puts a task's output `key`."""
    return f"{run_root}/{task}/{OUTPUT_SALT}/{key}"


def executor_of(spec: dict[str, Any], task: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(component, container) of a task in a compiled PipelineSpec (JSON)."""
    component = spec["components"][spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]]
    return component, spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]


def driver_executor_input(
    spec: dict[str, Any],
    task: str,
    output_file: str,
    run_root: str = RUN_ROOT,
    upstream: dict[tuple[str, str], dict[str, Any]] | None = None,
    upstream_parameters: dict[tuple[str, str], Any] | None = None,
) -> dict[str, Any]:
    """The ExecutorInput (JSON) of `task`.

    `upstream` maps (producer task, key) to what the launcher recorded for it: the
    producer's reported artifact (`uri`, `metadata`); default: `output_uri`, no metadata.
    `upstream_parameters` maps (producer task, key) to a reported output parameter value.
    """
    component, _ = executor_of(spec, task)
    task_spec = spec["root"]["dag"]["tasks"][task]
    defaults = {name: p.get("defaultValue") for name, p in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()}
    artifacts = {}
    for key, source in task_spec.get("inputs", {}).get("artifacts", {}).items():
        producer = source["taskOutputArtifact"]
        recorded = (upstream or {}).get((producer["producerTask"], producer["outputArtifactKey"]), {})
        uri = recorded.get("uri") or output_uri(producer["producerTask"], producer["outputArtifactKey"], run_root)
        metadata = recorded.get("metadata", {})
        artifacts[key] = {"artifacts": [{"name": str(zlib.crc32(uri.encode())), "uri": uri, "type": {"instanceSchema": ""}, "metadata": metadata}]}
    parameters = {}
    for name, source in task_spec.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in source:
            parameters[name] = source["runtimeValue"]["constant"]
        elif "componentInputParameter" in source:
            parameters[name] = defaults[source["componentInputParameter"]]
        elif "taskOutputParameter" in source:
            producer = source["taskOutputParameter"]
            parameters[name] = (upstream_parameters or {})[(producer["producerTask"], producer["outputParameterKey"])]
    outputs = {
        key: {"artifacts": [{"uri": output_uri(task, key, run_root), "type": definition["artifactType"]}]}
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items()
    }
    output_parameters = {name: {"outputFile": f"/tmp/kfp/outputs/{name}"} for name in component.get("outputDefinitions", {}).get("parameters", {})}
    return {
        "inputs": {"artifacts": artifacts, "parameterValues": parameters},
        "outputs": {"artifacts": outputs, "parameters": output_parameters, "outputFile": output_file},
    }


def cache_key(spec: dict[str, Any], task: str, executor_input: dict[str, Any]) -> str:
    """The task's KFP cache fingerprint for `executor_input`: input artifact names and parameter values, output specs, command, image."""
    component, container = executor_of(spec, task)
    outputs = executor_input["outputs"]
    key = {
        "inputArtifactNames": {
            name: {"artifactNames": [a.get("name", "") for a in artifacts["artifacts"]]}
            for name, artifacts in executor_input["inputs"].get("artifacts", {}).items()
        },
        "inputParameterValues": executor_input["inputs"].get("parameterValues", {}),
        "outputArtifactsSpec": {
            name: {k: v for k, v in artifacts["artifacts"][0].items() if k != "uri"} for name, artifacts in outputs.get("artifacts", {}).items()
        },
        "outputParametersSpec": {name: component["outputDefinitions"]["parameters"][name]["parameterType"] for name in outputs.get("parameters", {})},
        "containerSpec": {"image": container["image"], "cmdArgs": [*container["command"], *container["args"]]},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def step_args(spec: dict[str, Any], task: str, executor_input: str) -> list[str]:
    """The task's compiled container args with `{{$}}` replaced by the ExecutorInput, as the launcher does."""
    _, container = executor_of(spec, task)
    return [arg.replace("{{$}}", executor_input) for arg in container["args"]]
