"""KFP's step cache: the cache key, its fingerprint, and the API server's task table.

Ported from kubeflow/pipelines `backend/src/v2/cacheutils/cache.go` (GenerateCacheKey,
GenerateFingerPrint, GetExecutionCache; identical at 2.4.0 and 2.5.0) and
`backend/src/v2/driver/driver.go` (getFingerPrint, getFingerPrintsAndID, 2.5.0). The key
holds the input artifacts' names (their MLMD ids), the input parameter values, the output
specs without URIs, and the container's image and unsubstituted command + args; cache
entries are looked up by fingerprint, `pipeline/<pipeline name>` and namespace.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2


def cache_key(executor_input: kfp_pb2.ExecutorInput, output_parameter_types: dict[str, str], cmd_args: list[str], image: str) -> dict[str, Any]:
    """GenerateCacheKey, as the protojson form of the `CacheKey` message (api/v2alpha1/cache_key.proto)."""
    key: dict[str, Any] = {}
    names = {
        name: {"artifactNames": [artifact.name for artifact in artifacts.artifacts]} for name, artifacts in executor_input.inputs.artifacts.items()
    }
    if names:
        key["inputArtifactNames"] = names
    outputs = {}
    for name, artifacts in executor_input.outputs.artifacts.items():
        if artifacts.artifacts:
            first = artifacts.artifacts[0]
            wiped = kfp_pb2.RuntimeArtifact(name=first.name, type=first.type, metadata=first.metadata)
            if not first.HasField("metadata"):
                wiped.ClearField("metadata")
            outputs[name] = json_format.MessageToDict(wiped)
    if outputs:
        key["outputArtifactsSpec"] = outputs
    parameters = {}
    for name in executor_input.outputs.parameters:
        if name not in output_parameter_types:
            raise ValueError(f"unknown parameter {name!r} found in ExecutorInput_Outputs")
        parameters[name] = output_parameter_types[name]
    if parameters:
        key["outputParametersSpec"] = parameters
    key["containerSpec"] = {"image": image, **({"cmdArgs": list(cmd_args)} if cmd_args else {})}
    values = {name: json_format.MessageToDict(value) for name, value in executor_input.inputs.parameter_values.items()}
    if values:
        key["inputParameterValues"] = values
    return key


def _go_json(value: Any) -> str:
    """Go's encoding/json.Marshal of a decoded JSON value: sorted keys, compact, HTML-escaped, numbers as %g-like."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_json(k)}:{_go_json(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e21 else repr(number)
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fingerprint(key: dict[str, Any]) -> str:
    """GenerateFingerPrint: sha256 of the key re-marshalled by Go's encoding/json."""
    return hashlib.sha256(_go_json(key).encode()).hexdigest()


@dataclass(frozen=True)
class CachedTask:
    """One row of the API server's task table (api.Task) that the cache reads."""

    fingerprint: str
    pipeline_name: str
    namespace: str
    run_id: str
    mlmd_execution_id: str
    created_at: float


@dataclass
class TaskCache:
    """The KFP API server's cache (ListTasksV1 / CreateTaskV1 as cache.go calls them)."""

    tasks: list[CachedTask] = field(default_factory=list)

    def get_execution_cache(self, fingerprint_: str, pipeline_name: str, namespace: str) -> str:
        """GetExecutionCache: the MLMD execution id of the newest task with these three fields, else ""."""
        matches = [task for task in self.tasks if (task.fingerprint, task.pipeline_name, task.namespace) == (fingerprint_, pipeline_name, namespace)]
        return max(matches, key=lambda task: task.created_at).mlmd_execution_id if matches else ""

    def create_execution_cache(self, task: CachedTask) -> None:
        self.tasks.append(task)
