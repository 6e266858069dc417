"""The `kubeflow` config section: how `retrain compile` targets a Kubernetes cluster."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pipelines.kubeflow.server_settings import ServerSettings


class KubeflowSettings(BaseModel):
    """Pipeline image and cluster placement for compiled pipelines; `server` for submit/schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "retrain:latest"
    server: ServerSettings = ServerSettings()
