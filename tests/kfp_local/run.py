"""Runs a compiled PipelineSpec + PlatformSpec the way open-source KFP does: root DAG, then driver + launcher per task.

What Argo does in the cluster (kubeflow/pipelines `backend/src/v2/compiler/argocompiler/`,
2.5.0) is reduced to its effect on a flat root DAG: tasks run one at a time in
dependency order, each as driver then (unless cached) launcher, with the task's
Kubernetes executor config from the PlatformSpec. What the backend refuses to compile
(resolver or importer executors, `argocompiler/dag.go` / `importer.go`) is refused here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as kfp_pb2
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from kfp_local.cache import TaskCache
from kfp_local.driver import (
    DEFAULT_MINIO_ENDPOINT,
    KFP_VERSIONS,
    DriverError,
    StepOptions,
    check_kubernetes_config,
    container,
    root_dag,
    runtime_config_with_defaults,
)
from kfp_local.launcher import Pod, launch
from kfp_local.metadata import MetadataClient, Pipeline
from kfp_local.services import MetadataService, ObjectStores


@dataclass
class Cluster:
    """The backend's state across runs: ML Metadata, object stores, the cache table, the kfp-launcher ConfigMap."""

    metadata: MetadataService
    stores: ObjectStores
    work_dir: Path  # pods' filesystems live under it
    step_env: dict[str, str]  # the image's environment
    kfp_version: str = "2.5.0"
    launcher_default_root: Optional[str] = None  # kfp-launcher ConfigMap `defaultPipelineRoot`
    minio_endpoint: str = DEFAULT_MINIO_ENDPOINT  # the minio-service the driver pod finds (MinioDefaultEndpoint)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    cache: TaskCache = field(default_factory=TaskCache)

    def __post_init__(self) -> None:
        if self.kfp_version not in KFP_VERSIONS:
            raise ValueError(f"kfp_version: use one of {KFP_VERSIONS}")


@dataclass
class TaskRun:
    """One task's result: its MLMD execution, whether the cache served it, and its output URIs."""

    execution_id: int
    cached: bool
    outputs: dict[str, str]


@dataclass
class RunResult:
    run_id: str
    pipeline_root: str
    tasks: dict[str, TaskRun]


def task_order(spec: kfp_pb2.PipelineSpec) -> list[str]:
    """The root DAG's tasks in an order where each comes after every task it depends on or reads from."""
    graph: dict[str, set[str]] = {}
    for name, task in spec.root.dag.tasks.items():
        upstream = set(task.dependent_tasks)
        upstream |= {a.task_output_artifact.producer_task for a in task.inputs.artifacts.values() if a.HasField("task_output_artifact")}
        upstream |= {p.task_output_parameter.producer_task for p in task.inputs.parameters.values() if p.HasField("task_output_parameter")}
        graph[name] = upstream
    return list(TopologicalSorter(graph).static_order())


def _executor(
    spec: kfp_pb2.PipelineSpec, deployment: kfp_pb2.PipelineDeploymentConfig, task: kfp_pb2.PipelineTaskSpec
) -> tuple[kfp_pb2.ComponentSpec, str, Any]:
    component = spec.components[task.component_ref.name]
    if component.WhichOneof("implementation") != "executor_label":
        raise DriverError(f"task {task.task_info.name}: sub-DAGs are not implemented here")
    executor = deployment.executors[component.executor_label]
    kind = executor.WhichOneof("spec")
    if kind == "resolver":
        raise DriverError("resolver executors not implemented")  # argocompiler/dag.go
    if kind != "container":
        raise DriverError(f"task {task.task_info.name}: {kind} executors are not implemented here")
    return component, component.executor_label, executor.container


@dataclass
class RunContext:
    """One run in progress: the compiled documents, its MLMD handles and where it runs."""

    cluster: Cluster
    spec: kfp_pb2.PipelineSpec
    deployment: kfp_pb2.PipelineDeploymentConfig
    executor_configs: dict[str, Any]
    client: MetadataClient
    pipeline: Pipeline
    dag: mlmd_pb2.Execution
    run_id: str
    namespace: str


def start_run(
    cluster: Cluster,
    pipeline_spec: dict[str, Any],
    platform_spec: Optional[dict[str, Any]] = None,
    *,
    namespace: str = "kubeflow-user-example-com",
    parameters: Optional[dict[str, Any]] = None,
    pipeline_root: str = "",
    run_id: Optional[str] = None,
) -> RunContext:
    """The root DAG driver of a new run (as `retrain submit` creates it): contexts and the DAG execution."""
    spec = json_format.ParseDict(pipeline_spec, kfp_pb2.PipelineSpec())
    deployment = json_format.ParseDict(pipeline_spec["deploymentSpec"], kfp_pb2.PipelineDeploymentConfig())
    executor_configs = (platform_spec or {}).get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
    run_id = run_id or str(uuid.uuid4())
    client = MetadataClient(cluster.metadata.stub())
    runtime_config = runtime_config_with_defaults(spec, parameters or {}, pipeline_root)
    pipeline, dag = root_dag(
        client, spec.pipeline_info.name, run_id, namespace, runtime_config, cluster.launcher_default_root, cluster.minio_endpoint
    )
    return RunContext(cluster, spec, deployment, executor_configs, client, pipeline, dag, run_id, namespace)


def run_task(run: RunContext, name: str) -> TaskRun:
    """One task: the container driver, then (unless the cache served it) the launcher in a fresh pod."""
    task = run.spec.root.dag.tasks[name]
    component, label, container_spec = _executor(run.spec, run.deployment, task)
    kubernetes_config = run.executor_configs.get(label, {})
    check_kubernetes_config(kubernetes_config, run.cluster.kfp_version)
    opts = StepOptions(
        run.spec.pipeline_info.name,
        run.run_id,
        run.run_id,
        run.namespace,
        task,
        component,
        container_spec,
        kubernetes_config,
        run.cluster.kfp_version,
    )
    driven = container(run.client, run.cluster.cache, opts, run.dag, run.pipeline)
    if not driven.cached:
        pod = Pod(run.cluster.work_dir / run.run_id / f"{name}-{driven.execution.id}", dict(run.cluster.step_env), run.cluster.secrets)
        pod.root.mkdir(parents=True)
        metadata = run.cluster.metadata
        launch(run.client, run.cluster.cache, run.cluster.stores, opts, driven, pod, (metadata.host, metadata.port))
    outputs = {key: output.artifact.uri for key, output in run.client.output_artifacts(driven.execution.id).items()}
    return TaskRun(driven.execution.id, driven.cached, outputs)


def run_pipeline(cluster: Cluster, pipeline_spec: dict[str, Any], platform_spec: Optional[dict[str, Any]] = None, **run_options: Any) -> RunResult:
    """One whole run of the compiled pipeline; raises StepFailed / DriverError at the first failing task."""
    run = start_run(cluster, pipeline_spec, platform_spec, **run_options)
    tasks: dict[str, TaskRun] = {}
    state = mlmd_pb2.Execution.FAILED
    try:
        for name in task_order(run.spec):
            tasks[name] = run_task(run, name)
        state = mlmd_pb2.Execution.COMPLETE
    finally:
        run.client.put_execution_state(run.dag.id, state)
    return RunResult(run.run_id, run.pipeline.pipeline_root(), tasks)
