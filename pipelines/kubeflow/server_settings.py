"""The `kubeflow.server` config section: where `retrain submit` and `retrain schedule` send the pipeline."""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict


class ServerSettings(BaseModel):
    """The Kubeflow Pipelines API endpoint and where runs are filed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Optional[str] = None
