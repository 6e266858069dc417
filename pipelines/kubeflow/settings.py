"""The `kubeflow` config section: how `retrain compile` targets a Kubernetes cluster.

Placement (GPU node pool, tolerations, /dev/shm), per-step resources, secrets,
volumes, the images, the KFP backend version the platform config is written for,
the pipeline root (an object-store URL) and the ML Metadata service that the
container-step resolvers query. `server` (where submit/schedule send the pipeline)
lives in server_settings.py.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from retrain.pipelines.kubeflow.server_settings import ServerSettings, _Section

KFP_GPU_TYPES = ("nvidia.com/gpu", "amd.com/gpu")
VERTEX_GPU_TYPES = (
    "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_A100",
    "NVIDIA_A100_80GB",
    "NVIDIA_L4",
    "NVIDIA_H100_80GB",
)
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# KFP backend releases whose driver was read for the Kubernetes executor config it accepts
# (see platform.py); the platform config is written in the shape the chosen one parses.
SUPPORTED_KFP_VERSIONS = ("2.4.0", "2.4.1", "2.5.0")
# The launcher's pipeline-root pattern (kubeflow/pipelines backend/src/v2/objectstore/config.go,
# `bucketPattern`, tags 2.4.0 and 2.5.0), restricted to the stores it really opens (mem:// is for tests).
_BUCKET_URL = re.compile(r"^(minio|s3|gs)://([^/?]+)(/[^?]*)?(\?.+)?$")
KFP_DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"  # backend/src/v2/config/env.go, 2.4.0 and 2.5.0


def _check_pinned(value: str) -> str:
    """An image reference with a version tag or a digest; `:latest` and untagged names are refused."""
    name, _, digest = value.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    if digest.startswith("sha256:") or (tag and tag != "latest"):
        return value
    raise ValueError(f"image {value!r} is not pinned: use a version tag (e.g. retrain:0.1.0) or a digest (NAME@sha256:...)")


def _check_quantity(value: Optional[str]) -> Optional[str]:
    if value is not None and not _QUANTITY.match(value):
        raise ValueError(f"not a Kubernetes quantity: {value!r} (e.g. 512Mi, 8Gi)")
    return value


def quantity_in_gb(value: str) -> float:
    """A Kubernetes memory quantity (8Gi, 512Mi, 2G) in gigabytes (10^9 bytes), as TFX's ResourceSpec wants."""
    match = re.match(r"^([0-9.]+)([A-Za-z]*)$", value)
    assert match, value
    factors = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(match.group(1)) * factors[match.group(2)] / 1e9


def _one_of(value: str, allowed: "tuple[str, ...] | list[str]", problem: str) -> str:
    """`value` when it is one of `allowed`; else ValueError "PROBLEM 'value': use one of ..."."""
    if value not in allowed:
        raise ValueError(f"{problem} {value!r}: use one of {', '.join(allowed)}")
    return value


class StepResources(_Section):
    """CPU (cores), memory (a Kubernetes quantity) and, for GPU steps, the GPU count (overrides `gpu.count`)."""

    cpu: Optional[float] = Field(None, gt=0)
    memory: Optional[str] = None
    gpus: Optional[int] = Field(None, ge=0)

    @field_validator("memory")
    @classmethod
    def _memory_quantity(cls, value: Optional[str]) -> Optional[str]:
        return _check_quantity(value)


class NodePool(_Section):
    """The node label that selects the GPU node pool, e.g. cloud.google.com/gke-nodepool: gpu-pool."""

    label: str = "cloud.google.com/gke-nodepool"
    value: str = "gpu-pool"


class Toleration(_Section):
    """A Kubernetes toleration for the GPU nodes' taint."""

    key: str = "nvidia.com/gpu"
    operator: Literal["Exists", "Equal"] = "Exists"
    value: Optional[str] = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class GpuSettings(_Section):
    """GPUs for the trainers and the steps listed in `steps`; `count: 0` runs everything on CPU nodes.

    `type` is the Kubernetes resource name for `--target kfp` (nvidia.com/gpu,
    amd.com/gpu); `vertex_type` the Vertex AI accelerator for `--target vertex`.
    GPU steps get the node selector, the tolerations and a memory-backed
    emptyDir of `shm_size` at /dev/shm (PyTorch DataLoader workers share tensors there).
    """

    type: str = "nvidia.com/gpu"
    vertex_type: str = "NVIDIA_TESLA_T4"
    count: int = Field(1, ge=0)
    steps: tuple[str, ...] = ()
    node_pool: Optional[NodePool] = NodePool()
    tolerations: tuple[Toleration, ...] = (Toleration(),)
    shm_size: Optional[str] = "2Gi"

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return _one_of(value, KFP_GPU_TYPES, "unknown GPU type")

    @field_validator("vertex_type")
    @classmethod
    def _known_vertex_type(cls, value: str) -> str:
        return _one_of(value, VERTEX_GPU_TYPES, "unknown Vertex AI GPU type")

    @field_validator("shm_size")
    @classmethod
    def _shm_quantity(cls, value: Optional[str]) -> Optional[str]:
        return _check_quantity(value)


class SecretEnv(_Section):
    """A key of a Kubernetes secret exposed to every step as an environment variable."""

    secret: str
    key: str
    env: str

    @field_validator("env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"not an environment variable name: {value!r}")
        return value


class VolumeMount(_Section):
    """A PersistentVolumeClaim mounted into every step."""

    claim: str
    mount_path: str

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"mount_path must be absolute: {value!r}")
        return value


class MetadataService(_Section):
    """The cluster's ML Metadata gRPC service, queried by the container-step resolvers."""

    host: str = "metadata-grpc-service.kubeflow"
    port: int = Field(8080, ge=1, le=65535)


class KubeflowSettings(_Section):
    """Pipeline images and cluster placement for compiled pipelines; `server` for submit/schedule.

    `image` runs every step but the PyTorch ones, which run `torch_image` (CUDA
    PyTorch; None: `image`, whose PyTorch is a CPU build). `kfp_version` is the KFP
    backend the platform config is written for. `pipeline_root` is the object-store
    URL (minio://, s3://, gs://) the steps' artifacts go to: `retrain submit/schedule`
    send it as the run's `runtime_config.pipeline_root`, the only place besides the
    namespace's `kfp-launcher` ConfigMap where KFP reads it. `serving_root` is where
    the pushers write models: a gs:// URL or a path, which is then the mount path of
    the PVC `serving_claim` (or of a `volumes` entry). `data_root` replaces the built-in
    example's local directory (the image or a volume must hold it there). `resources`
    maps component ids (`Trainer`, `Transform`, ...) or `default` to CPU/memory/GPU
    count; `TorchTrainer` without an entry of its own uses `Trainer`'s.
    """

    image: str = "retrain:0.1.0"
    torch_image: Optional[str] = "retrain-torch:0.1.0"
    kfp_version: str = "2.5.0"
    pipeline_root: str = KFP_DEFAULT_PIPELINE_ROOT
    serving_root: str = "/serving"
    serving_claim: Optional[str] = "retrain-serving"
    data_root: str = "/opt/retrain/examples"
    resources: dict[str, StepResources] = {"default": StepResources(cpu=1, memory="4Gi"), "Trainer": StepResources(cpu=4, memory="16Gi")}
    gpu: GpuSettings = GpuSettings()
    secrets: tuple[SecretEnv, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    service_account: Optional[str] = "retrain-pipeline"
    metadata: MetadataService = MetadataService()
    server: ServerSettings = ServerSettings()

    @field_validator("image", "torch_image")
    @classmethod
    def _pinned(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else _check_pinned(value)

    @field_validator("kfp_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        return _one_of(value, SUPPORTED_KFP_VERSIONS, "unsupported Kubeflow Pipelines version")

    @field_validator("pipeline_root")
    @classmethod
    def _object_store_url(cls, value: str) -> str:
        if not _BUCKET_URL.match(value):
            raise ValueError(
                f"{value!r} is not an object-store URL: KFP takes minio://BUCKET/..., s3://BUCKET/... or gs://BUCKET/... (its driver rejects paths)"
            )
        return value

    @field_validator("serving_root")
    @classmethod
    def _gcs_or_absolute(cls, value: str) -> str:
        if not (value.startswith("gs://") or value.startswith("/")):
            raise ValueError(f"{value!r}: use a gs:// URL or an absolute path on a volume (the pushers write with tf.io.gfile)")
        return value

    @model_validator(mode="after")
    def _serving_path_on_a_volume(self) -> "KubeflowSettings":
        if self.serving_on_volume or self.serving_root.startswith("gs://"):
            return self
        if not any(PurePosixPath(self.serving_root).is_relative_to(volume.mount_path) for volume in self.volumes):
            raise ValueError(
                f"serving_root {self.serving_root} is a path but no volume holds it: set kubeflow.serving_claim or a kubeflow.volumes entry"
            )
        return self

    @model_validator(mode="after")
    def _gpus_need_a_node_pool(self) -> "KubeflowSettings":
        wants_gpus = self.gpu.count > 0 or any((step.gpus or 0) > 0 for step in self.resources.values())
        if wants_gpus and self.gpu.node_pool is None:
            raise ValueError("GPUs are requested but kubeflow.gpu.node_pool is not set: name the GPU node pool label and value")
        return self

    @property
    def serving_on_volume(self) -> bool:
        """True when `serving_root` is a path that the PVC `serving_claim` is mounted at."""
        return not self.serving_root.startswith("gs://") and self.serving_claim is not None
