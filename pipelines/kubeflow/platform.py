"""Per-step placement on Kubernetes: TFX ResourceSpecs and kfp-kubernetes executor configs.

Which steps need GPUs is decided here, in one place: every component whose class
(or a base class) is named in TRAINER_COMPONENT_TYPES, plus the component ids the
config lists in `kubeflow.gpu.steps`. GPU steps get the accelerator, the node
pool's selector, the tolerations and a memory-backed /dev/shm; every step gets
the secrets, image pull secrets and volumes (the pipeline root's PVC among them).
The PyTorch trainer without a `resources` entry of its own uses the TF trainer's.
The executor configs have the shape kfp-kubernetes 1.5.0 writes into a
PlatformSpec: platforms.kubernetes.deploymentSpec.executors.<label>.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base.base_component import BaseComponent

from pipelines.config import ConfigError
from pipelines.kubeflow.settings import KubeflowSettings, StepResources, quantity_in_gb

TRAINER_COMPONENT_TYPES = ("Trainer", "TorchTrainer")  # add a new trainer's component class name here
SHARED_RESOURCES = {"TorchTrainer": "Trainer"}  # step id -> whose `resources` entry it uses when it has none
DEFAULT_RESOURCES_KEY = "default"
SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def is_trainer(component: BaseComponent) -> bool:
    """True for the trainer components (by class name, so trainers added later need only a name here)."""
    return any(klass.__name__ in TRAINER_COMPONENT_TYPES for klass in type(component).__mro__)


def gpu_step_ids(components: Iterable[BaseComponent], settings: KubeflowSettings) -> set[str]:
    """Ids of the steps that get GPUs: the trainers and `gpu.steps`, unless their GPU count is 0."""
    components = list(components)
    known = {component.id for component in components}
    unknown = sorted(set(settings.gpu.steps) - known)
    if unknown:
        raise ConfigError(f"kubeflow.gpu.steps: no such step: {', '.join(unknown)} (steps: {', '.join(sorted(known))})")
    shared = {SHARED_RESOURCES[step] for step in known if step in SHARED_RESOURCES}
    unknown_resources = sorted(set(settings.resources) - known - shared - {DEFAULT_RESOURCES_KEY})
    if unknown_resources:
        raise ConfigError(f"kubeflow.resources: no such step: {', '.join(unknown_resources)} (steps: {', '.join(sorted(known))})")
    wanted = {c.id for c in components if is_trainer(c)} | set(settings.gpu.steps)
    return {step for step in wanted if gpu_count(step, settings) > 0}


def step_resources(step_id: str, settings: KubeflowSettings) -> StepResources:
    """The step's `resources` entry; without one, the entry it shares (SHARED_RESOURCES), else an empty one."""
    own = settings.resources.get(step_id)
    if own is None and step_id in SHARED_RESOURCES:
        own = settings.resources.get(SHARED_RESOURCES[step_id])
    return own or StepResources()


def gpu_count(step_id: str, settings: KubeflowSettings) -> int:
    """GPUs for a GPU step: its own (or shared) `resources.<id>.gpus`, else `gpu.count`."""
    own = step_resources(step_id, settings).gpus
    return settings.gpu.count if own is None else own


def resource_spec(step_id: str, settings: KubeflowSettings, gpu_type: Optional[str]) -> Optional[ResourceSpec]:
    """CPU/memory limits of a step (its entry, else `default`) and, with `gpu_type`, its accelerator."""
    own = step_resources(step_id, settings)
    default = settings.resources.get(DEFAULT_RESOURCES_KEY, StepResources())
    cpu, memory = own.cpu or default.cpu, own.memory or default.memory
    if cpu is None and memory is None and gpu_type is None:
        return None
    spec = ResourceSpec()
    if cpu is not None:
        spec.cpu_limit = cpu
    if memory is not None:
        spec.memory_limit = quantity_in_gb(memory)
    if gpu_type is not None:
        spec.accelerator.type = gpu_type
        spec.accelerator.count = gpu_count(step_id, settings)
    return spec


def _common_config(settings: KubeflowSettings) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if settings.secrets:
        by_secret: dict[str, list[dict[str, str]]] = {}
        for secret in settings.secrets:
            by_secret.setdefault(secret.secret, []).append({"secretKey": secret.key, "envVar": secret.env})
        config["secretAsEnv"] = [{"secretName": name, "keyToEnv": keys} for name, keys in by_secret.items()]
    if settings.image_pull_secrets:
        config["imagePullSecret"] = [{"secretName": name} for name in settings.image_pull_secrets]
    mounts = [(volume.claim, volume.mount_path) for volume in settings.volumes]
    if settings.root_on_volume:
        mounts.insert(0, (settings.pipeline_root_claim, settings.pipeline_root))
    if mounts:
        config["pvcMount"] = [
            {"pvcNameParameter": {"runtimeValue": {"constant": claim}}, "mountPath": path} for claim, path in mounts
        ]
    return config


def _gpu_config(settings: KubeflowSettings) -> dict[str, Any]:
    gpu = settings.gpu
    assert gpu.node_pool is not None  # KubeflowSettings refuses GPUs without a node pool
    config: dict[str, Any] = {"nodeSelector": {"labels": {gpu.node_pool.label: gpu.node_pool.value}}}
    if gpu.tolerations:
        config["tolerations"] = [t.model_dump(exclude_none=True) for t in gpu.tolerations]
    if gpu.shm_size is not None:
        config["emptyDirMounts"] = [{"volumeName": SHM_VOLUME, "mountPath": SHM_PATH, "medium": "Memory", "sizeLimit": gpu.shm_size}]
    return config


def kubernetes_executor_configs(executor_labels: dict[str, str], gpu_steps: set[str], settings: KubeflowSettings) -> dict[str, dict[str, Any]]:
    """KubernetesExecutorConfig (as JSON) per executor label; `executor_labels` maps step id -> executor label."""
    common, gpu = _common_config(settings), _gpu_config(settings) if gpu_steps else {}
    configs = {}
    for step_id, label in sorted(executor_labels.items()):
        config = {**common, **(gpu if step_id in gpu_steps else {})}
        if config:
            configs[label] = config
    return configs


def platform_spec(executor_configs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The PlatformSpec document holding the executor configs, as kfp-kubernetes writes it."""
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executor_configs}}}}
