"""The `kubeflow.server` config section: where `retrain submit` and `retrain schedule` send the pipeline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retrain.pipelines.kubeflow.schedule_format import check_cron, duration_seconds

IN_CLUSTER_TOKEN_PATH = Path("/var/run/secrets/kubeflow/pipelines/token")
_HOST_PATTERN = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", re.DOTALL)


def redact_url(url: str) -> str:
    """`url` with everything up to its last `@` (a `user:password@` part) replaced by `***@`, fit for a message."""
    return _CREDENTIALS.sub(lambda match: f"{match.group(1) or ''}***@", url)


def check_host(host: str) -> str:
    """The API endpoint without a trailing slash; raises ValueError unless it is an http(s) URL without credentials.

    Messages never repeat credentials: a `user:password@` part is refused, and shown only redacted.
    """
    if "@" in host:
        raise ValueError(f"credentials in the URL are not allowed: {redact_url(host)!r} (give them in kubeflow.server.auth)")
    if not _HOST_PATTERN.match(host):
        raise ValueError(f"not an http(s) URL: {redact_url(host)!r} (e.g. http://localhost:8080)")
    return host.rstrip("/")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSettings(_Section):
    """How requests authenticate: the token itself never lives in the config.

    `token_env`: a bearer token read from the environment variable named by `token_env_var`;
    `token_file`: read from `token_file`; `service_account`: the projected service-account
    token of a pod (audience `pipelines.kubeflow.org`, at `service_account_token_path`);
    `none`: no Authorization header (a port-forwarded standalone install).
    """

    method: Literal["none", "token_env", "token_file", "service_account"] = "none"
    token_env_var: str = "KF_PIPELINES_TOKEN"
    token_file: Optional[Path] = None
    service_account_token_path: Path = IN_CLUSTER_TOKEN_PATH

    @model_validator(mode="after")
    def _file_given(self) -> "AuthSettings":
        if self.method == "token_file" and self.token_file is None:
            raise ValueError("method token_file needs token_file")
        return self


class ScheduleSettings(_Section):
    """Recurring runs: a 6-field cron expression or an interval; at most `max_concurrency` runs at once."""

    cron: Optional[str] = None
    every: Optional[str] = None
    max_concurrency: int = Field(1, ge=1, le=10)
    catchup: bool = False

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_cron(value)

    @field_validator("every")
    @classmethod
    def _valid_every(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> "ScheduleSettings":
        if self.cron is not None and self.every is not None:
            raise ValueError("give cron or every, not both")
        return self


class ServerSettings(_Section):
    """The Kubeflow Pipelines API endpoint, where runs are filed, and how requests authenticate."""

    host: Optional[str] = None
    namespace: Optional[str] = None
    experiment: str = Field("retrain", min_length=1)
    pipeline_name: Optional[str] = None
    auth: AuthSettings = AuthSettings()
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    poll_interval_seconds: float = Field(15.0, gt=0)
    wait_timeout_seconds: float = Field(24 * 3600.0, gt=0)
    schedule: ScheduleSettings = ScheduleSettings()

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_host(value)
