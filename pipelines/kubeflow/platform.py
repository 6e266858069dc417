"""Per-step placement on Kubernetes: TFX ResourceSpecs and kfp-kubernetes executor configs.

Which steps need GPUs is decided here, in one place: every component whose class
(or a base class) is a branch's trainer or tuner class (TRAINING_COMPONENT_TYPES, from
components/branches.py; a tuner trains `max_trials` models), plus the component ids the
config lists in `kubeflow.gpu.steps`. GPU steps get the accelerator, the node
pool's selector, the tolerations and a memory-backed /dev/shm; every step gets
the secrets, image pull secrets and volumes (the serving PVC among them).
Without a `resources` entry of its own a tuner uses its trainer's, and the PyTorch
trainer the TF trainer's (SHARED_RESOURCES).
The PyTorch steps (TORCH_COMPONENT_TYPES: the branches with `own_image`) run `kubeflow.torch_image`.

The executor configs go into a PlatformSpec (platforms.kubernetes.deploymentSpec.
executors.<label>) in the shape the chosen backend (`kubeflow.kfp_version`) parses.
The driver unmarshals them into its KubernetesExecutorConfig (kubeflow/pipelines
backend/src/v2/cmd/driver/main.go): at 2.4.0 with jsonpb's strict Unmarshal, so an
unknown field fails every step; at 2.4.1 and 2.5.0 with `AllowUnknownFields`, so an
unknown field is silently dropped. 2.4.x compile against the kubernetes_platform
module pinned in their go.mod (commit d911c8b73b49), which has no `*_parameter` name
fields: PVCs by `constant`, secrets by `secretName`. 2.5.0 (go.mod `replace =>
./kubernetes_platform`) adds `pvcNameParameter`/`secretNameParameter` and still reads
the deprecated forms (backend/src/v2/driver/driver.go); 2.5.0 configs use the new ones.
No KubernetesExecutorConfig field at these tags carries a securityContext.

Resolver steps copy what they resolve out of the object store
(components/resolvers/kfp/object_store.py), so they need the access the launcher
has. On a `minio://` root that is the Secret `mlpipeline-minio-artifact` (the
launcher reads it through the Kubernetes API; a step gets its keys by
`secretAsEnv`, which the 2.4.x driver takes as `secretName` and 2.5.0 as
`secretNameParameter`); `s3://` and `gs://` roots use the pod's ambient
credentials (`fromEnv`), as the launcher does.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base.base_component import BaseComponent

from retrain.components.branches import BRANCHES, ORIGINAL
from retrain.components.resolvers.kfp.object_store import MINIO_SECRET, MINIO_SECRET_KEYS, secret_env
from retrain.pipelines.config import ConfigError
from retrain.pipelines.kubeflow.settings import KubeflowSettings, StepResources, quantity_in_gb

# the steps that train, so get GPUs: each branch's trainer and tuner (a new trainer: a branch in components/branches.py)
TRAINING_COMPONENT_TYPES = tuple(name for branch in BRANCHES for name in (branch.trainer_class, branch.tuner_class))
TORCH_COMPONENT_TYPES = tuple(name for branch in BRANCHES if branch.own_image for name in branch.step_classes)  # run `kubeflow.torch_image`
NAME_PARAMETERS_SINCE = "2.5.0"  # first backend whose executor config has pvcNameParameter/secretNameParameter
# step id -> whose `resources` entry it uses when it has none (followed until an entry is found):
# a tuner its trainer's, the other trainers the original's
SHARED_RESOURCES = {
    **{branch.tuner_id: branch.trainer_id for branch in BRANCHES},
    **{branch.trainer_id: ORIGINAL.trainer_id for branch in BRANCHES if not branch.original},
}
DEFAULT_RESOURCES_KEY = "default"
SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def _is_a(component: BaseComponent, class_names: tuple[str, ...]) -> bool:
    return any(klass.__name__ in class_names for klass in type(component).__mro__)


def torch_step_ids(components: Iterable[BaseComponent]) -> set[str]:
    """Ids of the steps that run the PyTorch image (TorchTuner, TorchTrainer, TorchEvaluator)."""
    return {component.id for component in components if _is_a(component, TORCH_COMPONENT_TYPES)}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _by_name(name: str, legacy_field: str, settings: KubeflowSettings) -> dict[str, Any]:
    """A secret's or PVC's name as the backend reads it: `legacy_field` before 2.5.0, `<field>Parameter` since."""
    if _version_key(settings.kfp_version) < _version_key(NAME_PARAMETERS_SINCE):
        return {legacy_field: name}
    parameter_field = {"constant": "pvcNameParameter", "secretName": "secretNameParameter"}[legacy_field]
    return {parameter_field: {"runtimeValue": {"constant": name}}}


def gpu_step_ids(components: Iterable[BaseComponent], settings: KubeflowSettings) -> set[str]:
    """Ids of the steps that get GPUs: the trainers and `gpu.steps`, unless their GPU count is 0."""
    components = list(components)
    known = {component.id for component in components}
    unknown = sorted(set(settings.gpu.steps) - known)
    if unknown:
        raise ConfigError(f"kubeflow.gpu.steps: no such step: {', '.join(unknown)} (steps: {', '.join(sorted(known))})")
    shared = {owner for step in known for owner in _sharing_chain(step)}
    unknown_resources = sorted(set(settings.resources) - known - shared - {DEFAULT_RESOURCES_KEY})
    if unknown_resources:
        raise ConfigError(f"kubeflow.resources: no such step: {', '.join(unknown_resources)} (steps: {', '.join(sorted(known))})")
    wanted = {c.id for c in components if _is_a(c, TRAINING_COMPONENT_TYPES)} | set(settings.gpu.steps)
    return {step for step in wanted if gpu_count(step, settings) > 0}


def _sharing_chain(step_id: str) -> list[str]:
    """The steps whose `resources` entries `step_id` falls back to, nearest first (SHARED_RESOURCES)."""
    chain = []
    while step_id in SHARED_RESOURCES:
        step_id = SHARED_RESOURCES[step_id]
        chain.append(step_id)
    return chain


def step_resources(step_id: str, settings: KubeflowSettings) -> StepResources:
    """The step's `resources` entry; without one, the nearest entry it shares (SHARED_RESOURCES), else an empty one."""
    for step in (step_id, *_sharing_chain(step_id)):
        if step in settings.resources:
            return settings.resources[step]
    return StepResources()


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
        config["secretAsEnv"] = [{**_by_name(name, "secretName", settings), "keyToEnv": keys} for name, keys in by_secret.items()]
    if settings.image_pull_secrets:
        config["imagePullSecret"] = [_by_name(name, "secretName", settings) for name in settings.image_pull_secrets]
    mounts = [(volume.claim, volume.mount_path) for volume in settings.volumes]
    if settings.serving_on_volume:
        assert settings.serving_claim is not None
        mounts.insert(0, (settings.serving_claim, settings.serving_root))
    if mounts:
        config["pvcMount"] = [{**_by_name(claim, "constant", settings), "mountPath": path} for claim, path in mounts]
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


def object_store_secrets(settings: KubeflowSettings) -> list[dict[str, Any]]:
    """`secretAsEnv` entries that let a resolver step read artifacts on `settings.pipeline_root` (see the module docstring)."""
    if not settings.pipeline_root.startswith("minio://"):
        return []
    keys = [{"secretKey": key, "envVar": secret_env(MINIO_SECRET, key)} for key in MINIO_SECRET_KEYS]
    return [{**_by_name(MINIO_SECRET, "secretName", settings), "keyToEnv": keys}]


def kubernetes_executor_configs(
    executor_labels: dict[str, str], gpu_steps: set[str], settings: KubeflowSettings, resolver_steps: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """KubernetesExecutorConfig (as JSON) per executor label; `executor_labels` maps step id -> executor label.

    `resolver_steps` also get object-store access (`object_store_secrets`).
    """
    common, gpu = _common_config(settings), _gpu_config(settings) if gpu_steps else {}
    store_secrets, resolvers = object_store_secrets(settings), set(resolver_steps)
    configs = {}
    for step_id, label in sorted(executor_labels.items()):
        config = {**common, **(gpu if step_id in gpu_steps else {})}
        if step_id in resolvers and store_secrets:
            config["secretAsEnv"] = [*config.get("secretAsEnv", []), *store_secrets]
        if config:
            configs[label] = config
    return configs


def platform_spec(executor_configs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The PlatformSpec document holding the executor configs, as kfp-kubernetes writes it."""
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executor_configs}}}}
