"""Putting a compiled pipeline on a Kubeflow Pipelines server, with everything undone when a later step fails.

Shared by `retrain submit` and `retrain schedule`: the compiled pipeline becomes an upload
package (the PipelineSpec, then the Kubernetes PlatformSpec as a second YAML document, the
form the KFP API server reads), uploaded as a new version of the named pipeline.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional, TextIO

import yaml

from retrain.pipelines.kubeflow.client import KfpClient, KfpError


@dataclass(frozen=True)
class PipelinePackage:
    """What is uploaded (`package`), and the run-time configuration every run of it is created with."""

    package: bytes
    runtime_config: dict[str, Any]
    digest: str


def _parameters(runtime: dict[str, Any]) -> dict[str, Any]:
    """Runtime parameter values from a PipelineJob's runtimeConfig (new `parameterValues` or old typed `parameters`)."""
    values = dict(runtime.get("parameterValues") or {})
    for name, typed in (runtime.get("parameters") or {}).items():
        if isinstance(typed, dict) and typed:
            values.setdefault(name, next(iter(typed.values())))
    return values


def pipeline_package(compiled: dict[str, Any], pipeline_root: Optional[str] = None) -> PipelinePackage:
    """The upload package of a compiled pipeline.

    Takes `retrain compile`'s kfp form (`pipeline_spec` + `platform_spec`), a PipelineJob
    (`pipelineSpec`, `runtimeConfig`) or a bare PipelineSpec. Runs get `pipeline_root` when it
    is a URL (KFP's object stores need a scheme; otherwise the cluster's default root is used).
    """
    spec = compiled.get("pipeline_spec") or compiled.get("pipelineSpec") or compiled
    if not isinstance(spec, dict) or "root" not in spec or "pipelineInfo" not in spec:
        raise ValueError("the compiled pipeline has no pipeline spec (pipelineInfo and root)")
    platforms = compiled.get("platform_spec") or compiled.get("platformSpec")
    documents = [spec] + ([platforms] if platforms else [])
    package = yaml.safe_dump_all(documents, sort_keys=False).encode()
    runtime = compiled.get("runtimeConfig") or {}
    root = runtime.get("gcsOutputDirectory") or spec.get("defaultPipelineRoot") or pipeline_root
    runtime_config: dict[str, Any] = {"pipeline_root": root} if root and "://" in root else {}
    if _parameters(runtime):
        runtime_config["parameters"] = _parameters(runtime)
    digest = hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()
    return PipelinePackage(package, runtime_config, digest)


@dataclass
class Undo:
    """What this command created, deleted again (newest first) when a later step fails."""

    steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def add(self, what: str, action: Callable[[], None]) -> None:
        self.steps.append((what, action))

    def run(self, log: Optional[TextIO] = None) -> None:
        """Undoes every step; a step that cannot be undone is reported (one line each), the rest still run."""
        for what, action in reversed(self.steps):
            try:
                action()
            except KfpError as error:
                print(f"retrain: warning: could not remove {what}: {error}", file=log or sys.stderr)
        self.steps.clear()


@dataclass(frozen=True)
class Uploaded:
    """Where runs of the uploaded version are filed."""

    pipeline_id: str
    version_id: str
    version_name: str
    experiment_id: str


@dataclass(frozen=True)
class Existing:
    """What the server already has, read before anything is created."""

    pipeline_id: Optional[str]
    experiment_id: Optional[str]


def read_existing(client: KfpClient, pipeline_name: str, experiment: str) -> Existing:
    """Looks the pipeline and experiment up; unreachable servers and refused credentials fail here."""
    return Existing(client.find_pipeline(pipeline_name), client.find_experiment(experiment))


def version_name(package: PipelinePackage, now: Optional[datetime] = None) -> str:
    """A unique, readable version name: UTC time of the upload and the package's content hash."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{stamp}-{package.digest[:8]}"


def upload(client: KfpClient, existing: Existing, pipeline_name: str, experiment: str, package: PipelinePackage, undo: Undo) -> Uploaded:
    """Uploads `package` as a new version of `pipeline_name` and makes sure the experiment exists."""
    name = version_name(package)
    if existing.pipeline_id is None:
        pipeline_id = client.upload_pipeline(pipeline_name, package.package, description=f"retrain pipeline {pipeline_name}")
        undo.add(f"pipeline {pipeline_name}", lambda: client.delete_pipeline(pipeline_id))
        version_id = client.latest_version(pipeline_id)
        name = pipeline_name
    else:
        pipeline_id = existing.pipeline_id
        version_id = client.upload_pipeline_version(pipeline_id, name, package.package)
    undo.add(f"pipeline version {name}", lambda: client.delete_pipeline_version(pipeline_id, version_id))
    experiment_id = existing.experiment_id
    if experiment_id is None:
        experiment_id = client.create_experiment(experiment)
        created = experiment_id
        undo.add(f"experiment {experiment}", lambda: client.delete_experiment(created))
    return Uploaded(pipeline_id, version_id, name, experiment_id)


def version_reference(uploaded: Uploaded) -> dict[str, str]:
    return {"pipeline_id": uploaded.pipeline_id, "pipeline_version_id": uploaded.version_id}
