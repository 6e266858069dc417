"""`retrain compile`: the retrain pipeline as a Kubeflow Pipelines (or Vertex AI) pipeline definition.

The same `create_pipeline` factory as local runs, compiled by TFX's
KubeflowV2DagRunner, with per-step resources (TFX ResourceSpec) and, for
open-source KFP (`target="kfp"`), a kfp-kubernetes PlatformSpec placing the GPU
steps on the GPU node pool, in the shape `kubeflow.kfp_version` parses. The
PyTorch steps run `kubeflow.torch_image`. Result shapes:

- `kfp`: `{"pipeline_spec": PipelineSpec, "platform_spec": PlatformSpec}`, the
  form the KFP client sends as a run's `pipeline_spec`; `upload_yaml` renders it as
  the two YAML documents the KFP upload API takes. No `resolver` executor, no
  `lifecycle` hook: resolution runs in container steps (pipelines/kubeflow/steps.py).
- `vertex`: TFX's PipelineJob (ExampleGen keeps its preCacheCheck driver), resolver
  steps uncached as for `kfp`.

Runtime parameters (defaults in the spec): `span` pins the span ExampleGen ingests
(kfp; -1 = the newest on disk), `epochs` overrides `training.epochs` (0 = keep it).
The service account is not part of a KFP pipeline definition: submit sets it on the
run from `kubeflow.service_account`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, cast

import yaml

from retrain.components.kubeflow.entrypoint import COMMAND as STEP_COMMAND
from retrain.pipelines.config import ConfigError, RetrainConfig
from retrain.pipelines.kubeflow import platform
from retrain.pipelines.kubeflow.steps import RESOLVER_STEP_IDS, RUNTIME_PARAMETER_DEFAULTS, UNCACHED_STEP_IDS, link_output_parameters
from retrain.pipelines.paths import RunPaths

TARGETS: tuple[str, ...] = ("kfp", "vertex")


@dataclass(frozen=True)
class _ClusterPaths:
    """RunPaths' fields as strings, so that bucket URLs (gs://, s3://) keep their double slash."""

    output_dir: str
    pipeline_root: str
    metadata_path: str
    serving_dir: str
    examples_dir: str


def config_for_cluster(config: RetrainConfig) -> RetrainConfig:
    """`config` with the built-in example's files and named backbones where the cluster has them (`kubeflow.data_root`)."""
    from retrain.pipelines.builtin_example import example_files, point_at_cached_backbone, point_at_example

    config = point_at_cached_backbone(config, Path(config.kubeflow.data_root))
    if config.data.example is None:
        return config

    return point_at_example(config, example_files(config.data.example, Path(config.kubeflow.data_root) / config.data.example))


def _cluster_paths(config: RetrainConfig) -> RunPaths:
    settings = config.kubeflow
    root = settings.pipeline_root.rstrip("/")
    serving = settings.serving_root.rstrip("/")
    paths = _ClusterPaths(
        output_dir=root,
        pipeline_root=root,
        metadata_path="",  # Kubeflow runs use the cluster's ML Metadata
        serving_dir=f"{serving}/{config.push.model_name}",
        examples_dir=settings.data_root,
    )
    return cast(RunPaths, paths)  # create_pipeline only formats these with str()


def check_output(output: Path, target: str) -> None:
    """Raises ConfigError for an output file name `write_compiled` cannot write for `target`."""
    if output.suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"--output: {output}: use a .json, .yaml or .yml file name")
    if output.suffix != ".json" and target != "kfp":
        raise ConfigError(f"--output: {output}: the {target} PipelineJob is written as .json")


def compile_pipeline_spec(config: RetrainConfig, target: str = "kfp") -> dict[str, Any]:
    """The compiled pipeline for `target` as a JSON-ready dict (see the module docstring for its shape)."""
    if target not in TARGETS:
        raise ConfigError(f"--target: unknown target {target!r}: use one of {', '.join(TARGETS)}")
    if target == "vertex" and not config.kubeflow.pipeline_root.startswith("gs://"):
        raise ConfigError(f"kubeflow.pipeline_root: {config.kubeflow.pipeline_root!r}: Vertex AI needs a gs:// pipeline root")
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from retrain.pipelines.pipeline import create_pipeline

    cluster_config = config_for_cluster(config)
    pipeline = create_pipeline(cluster_config, _cluster_paths(cluster_config), target=cast(Any, target))
    settings = config.kubeflow
    gpu_steps = platform.gpu_step_ids(pipeline.components, settings)
    gpu_type = settings.gpu.type if target == "kfp" else settings.gpu.vertex_type
    for component in pipeline.components:
        resources = platform.resource_spec(component.id, settings, gpu_type if component.id in gpu_steps else None)
        if resources is not None:
            component.with_platform_config(resources)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=settings.image, default_commands=list(STEP_COMMAND), use_pipeline_spec_2_1=True
        )
    )
    job = runner.run(pipeline, write_out=False)
    spec = job["pipelineSpec"]
    _runtime_parameter_defaults(spec)
    link_output_parameters(spec)
    _no_cache_for_resolver_steps(spec)
    labels = _executor_labels(spec)
    _torch_image(spec, labels, platform.torch_step_ids(pipeline.components), settings.torch_image)
    if target == "vertex":
        return job
    # Informational: the KFP backend never reads it (submit/schedule send runtime_config.pipeline_root).
    spec["defaultPipelineRoot"] = settings.pipeline_root
    configs = platform.kubernetes_executor_configs(labels, gpu_steps, settings, RESOLVER_STEP_IDS)
    return {"pipeline_spec": spec, "platform_spec": platform.platform_spec(configs)}


def _executor_labels(spec: dict[str, Any]) -> dict[str, str]:
    """Step id -> executor label, through each task's component."""
    components = spec["components"]
    return {task["taskInfo"]["name"]: components[task["componentRef"]["name"]]["executorLabel"] for task in spec["root"]["dag"]["tasks"].values()}


def _torch_image(spec: dict[str, Any], executor_labels: dict[str, str], torch_steps: set[str], image: Optional[str]) -> None:
    """The PyTorch steps' containers run `image` (CUDA PyTorch); the others keep the default image."""
    if image is None:
        return
    for step in torch_steps:
        spec["deploymentSpec"]["executors"][executor_labels[step]]["container"]["image"] = image


def _no_cache_for_resolver_steps(spec: dict[str, Any]) -> None:
    """Resolver steps (ML Metadata) and the span probe (the data) must look on every run, never be served from cache."""
    for task in spec["root"]["dag"]["tasks"].values():
        if task["taskInfo"]["name"] in UNCACHED_STEP_IDS:
            task["cachingOptions"] = {"enableCache": False}


def _runtime_parameter_defaults(spec: dict[str, Any]) -> None:
    """Gives each runtime parameter its default, so runs and schedules may leave it out."""
    parameters = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    for name, parameter in parameters.items():
        if name in RUNTIME_PARAMETER_DEFAULTS:
            parameter.update({"defaultValue": RUNTIME_PARAMETER_DEFAULTS[name], "isOptional": True})


def upload_yaml(compiled: dict[str, Any]) -> str:
    """The KFP upload form: the PipelineSpec document, then the PlatformSpec document (kfp target)."""
    return yaml.safe_dump_all([compiled["pipeline_spec"], compiled["platform_spec"]], sort_keys=True)


def write_compiled(compiled: dict[str, Any], output: Path) -> Path:
    """Writes the compiled pipeline atomically: JSON for `.json`, the upload YAML for `.yaml`/`.yml` (kfp only)."""
    check_output(output, "kfp" if "pipeline_spec" in compiled else "vertex")
    text = upload_yaml(compiled) if output.suffix != ".json" else json.dumps(compiled, indent=2, sort_keys=True) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(text)
    partial.replace(output)
    return output
