"""A small typed client for the Kubeflow Pipelines v2beta1 REST API.

Only what `retrain submit` and `retrain schedule` need: pipelines and their versions,
experiments, runs and recurring runs. The bearer token travels in the Authorization header
of every request and nowhere else: it is never logged, and messages of the errors raised
here never contain it (they are also scrubbed of it in case a server echoes it back).
"""

from __future__ import annotations

import http.client
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import requests
import requests.auth

from retrain.pipelines.config import ConfigError
from retrain.pipelines.kubeflow.server_settings import AuthSettings, check_host

API = "/apis/v2beta1"
TERMINAL_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
SUCCESSFUL_STATES = frozenset({"SUCCEEDED", "SKIPPED"})
_MAX_PAGES = 100


class KfpError(RuntimeError):
    """The Kubeflow Pipelines API could not be reached or refused a request (one line, no secrets)."""


class KfpAuthError(KfpError):
    """The API answered 401 or 403."""


_TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]+$")


def _checked_token(token: str, setting: str, source: str) -> str:
    """`token` when it can travel in an HTTP header: printable ASCII without whitespace (never echoed)."""
    if not _TOKEN_PATTERN.match(token):
        raise ConfigError(f"{setting}: the token in {source} contains whitespace, control or non-ASCII characters (not shown)")
    return token


def bearer_token(auth: AuthSettings, environ: dict[str, str]) -> Optional[str]:
    """The token `auth` points at, or None for `none`; raises ConfigError when it cannot be read or is malformed.

    Leading and trailing whitespace (a file's final newline) is dropped; whitespace, control or
    non-ASCII characters inside the token are refused, in a message that never contains the token.
    """
    if auth.method == "none":
        return None
    if auth.method == "token_env":
        token = environ.get(auth.token_env_var, "").strip()
        if not token:
            raise ConfigError(f"kubeflow.server.auth: environment variable {auth.token_env_var} is not set or empty")
        return _checked_token(token, "kubeflow.server.auth", f"environment variable {auth.token_env_var}")
    path = auth.token_file if auth.method == "token_file" else auth.service_account_token_path
    assert path is not None  # AuthSettings requires token_file for method token_file
    where = "token_file" if auth.method == "token_file" else "service_account_token_path"
    try:
        token = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError as error:
        raise ConfigError(f"kubeflow.server.auth.{where}: cannot read {path}: {error.strerror or error}") from None
    if not token:
        raise ConfigError(f"kubeflow.server.auth.{where}: {path} is empty")
    return _checked_token(token, f"kubeflow.server.auth.{where}", str(path))


class _Bearer(requests.auth.AuthBase):
    """Sets the Authorization header on each request (a session's auth also keeps ~/.netrc out of it)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": name}]})


def _reason(error: requests.RequestException) -> str:
    """A short, secret-free reason for a transport failure."""
    if isinstance(error, requests.Timeout):
        return "timed out"
    cause: Optional[BaseException] = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno is not None:
            return (cause.strerror or os.strerror(cause.errno)).lower()
        reason = getattr(cause, "reason", None)
        cause = cause.__cause__ or cause.__context__ or (reason if isinstance(reason, BaseException) else None)
    return type(error).__name__


@dataclass(frozen=True)
class RunStatus:
    """A run's state (`PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, ...) and its error message, if any."""

    run_id: str
    state: str
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCESSFUL_STATES


@dataclass(frozen=True)
class RecurringRun:
    """A recurring run as listed by the API."""

    recurring_run_id: str
    display_name: str


class KfpClient:
    """Requests to one Kubeflow Pipelines API endpoint, bounded by `timeout` seconds each."""

    def __init__(self, host: str, token: Optional[str], timeout: float, namespace: Optional[str] = None) -> None:
        self.host = check_host(host)
        self.namespace = namespace
        self._timeout = timeout
        self._token = token
        self._session = requests.Session()
        self._session.auth = _Bearer(token) if token else None

    def __repr__(self) -> str:
        return f"KfpClient(host={self.host!r}, namespace={self.namespace!r})"

    def close(self) -> None:
        self._session.close()

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._session.request(method, f"{self.host}{API}{path}", timeout=self._timeout, **kwargs)
        except (requests.RequestException, http.client.HTTPException, ValueError) as error:  # ValueError: a header http.client refuses
            raise KfpError(f"cannot reach the Kubeflow Pipelines API at {self.host} ({_reason(error)})") from None
        if response.status_code in (401, 403):
            raise KfpAuthError(
                f"{method} {API}{path}: HTTP {response.status_code} {response.reason}: "
                "the Kubeflow Pipelines API refused the credentials (check kubeflow.server.auth)"
            )
        if not response.ok:
            raise KfpError(self._scrub(f"{method} {API}{path}: HTTP {response.status_code} {response.reason}: {_message(response)}"))
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise KfpError(f"{method} {API}{path}: the answer is not JSON (is {self.host} the Kubeflow Pipelines API?)") from None
        if not isinstance(body, dict):
            raise KfpError(f"{method} {API}{path}: the answer is not a JSON object (is {self.host} the Kubeflow Pipelines API?)")
        return body

    def _id(self, answer: dict[str, Any], key: str, method: str, path: str) -> str:
        """`answer[key]` as a string; KfpError (one line) when the server left it out."""
        value = answer.get(key)
        if not isinstance(value, (str, int)) or value == "":
            raise KfpError(f"{method} {API}{path}: the answer has no {key} (is {self.host} the Kubeflow Pipelines API?)")
        return str(value)

    def _namespaced(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "namespace": self.namespace} if self.namespace else params

    def _list(self, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token = ""
        for _ in range(_MAX_PAGES):
            page = self._request("GET", path, params={**params, "page_size": 100, **({"page_token": token} if token else {})})
            camel = key.split("_")[0] + "".join(word.title() for word in key.split("_")[1:])
            items = page.get(key) or page.get(camel) or []
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise KfpError(f"GET {API}{path}: the answer's {key} is not a list of objects (is {self.host} the Kubeflow Pipelines API?)")
            yield from items
            token = page.get("next_page_token") or page.get("nextPageToken") or ""
            if not token:
                return

    # Pipelines and versions

    def find_pipeline(self, name: str) -> Optional[str]:
        """The id of the pipeline named `name`, or None."""
        for pipeline in self._list("/pipelines", "pipelines", self._namespaced({"filter": _name_filter(name)})):
            if pipeline.get("display_name") == name:
                return self._id(pipeline, "pipeline_id", "GET", "/pipelines")
        return None

    def upload_pipeline(self, name: str, package: bytes, description: str = "") -> str:
        """Creates pipeline `name` from a pipeline-spec YAML package; returns its id."""
        params = self._namespaced({"name": name, "description": description})
        files = {"uploadfile": (f"{name}.yaml", package, "application/x-yaml")}
        return self._id(self._request("POST", "/pipelines/upload", params=params, files=files), "pipeline_id", "POST", "/pipelines/upload")

    def upload_pipeline_version(self, pipeline_id: str, version_name: str, package: bytes, description: str = "") -> str:
        """Adds version `version_name` to a pipeline; returns the version's id."""
        params = {"name": version_name, "pipelineid": pipeline_id, "description": description}
        files = {"uploadfile": (f"{version_name}.yaml", package, "application/x-yaml")}
        answer = self._request("POST", "/pipelines/upload_version", params=params, files=files)
        return self._id(answer, "pipeline_version_id", "POST", "/pipelines/upload_version")

    def latest_version(self, pipeline_id: str) -> str:
        """The id of a pipeline's newest version."""
        path = f"/pipelines/{pipeline_id}/versions"
        page = self._request("GET", path, params={"page_size": 1, "sort_by": "created_at desc"})
        versions = page.get("pipeline_versions") or page.get("pipelineVersions") or []
        if not versions:
            raise KfpError(f"pipeline {pipeline_id} has no version after the upload")
        if not isinstance(versions, list) or not isinstance(versions[0], dict):
            raise KfpError(f"GET {API}{path}: the answer's pipeline_versions is not a list of objects (is {self.host} the Kubeflow Pipelines API?)")
        return self._id(versions[0], "pipeline_version_id", "GET", path)

    def delete_pipeline_version(self, pipeline_id: str, version_id: str) -> None:
        self._request("DELETE", f"/pipelines/{pipeline_id}/versions/{version_id}")

    def delete_pipeline(self, pipeline_id: str) -> None:
        self._request("DELETE", f"/pipelines/{pipeline_id}")

    # Experiments

    def find_experiment(self, name: str) -> Optional[str]:
        """The id of the experiment named `name` (in the namespace), or None."""
        for experiment in self._list("/experiments", "experiments", self._namespaced({"filter": _name_filter(name)})):
            if experiment.get("display_name") == name:
                return self._id(experiment, "experiment_id", "GET", "/experiments")
        return None

    def create_experiment(self, name: str) -> str:
        body = {"display_name": name, **({"namespace": self.namespace} if self.namespace else {})}
        return self._id(self._request("POST", "/experiments", json=body), "experiment_id", "POST", "/experiments")

    def delete_experiment(self, experiment_id: str) -> None:
        self._request("DELETE", f"/experiments/{experiment_id}")

    # Runs

    def create_run(self, run: dict[str, Any]) -> str:
        """Creates a run from a v2beta1 Run body; returns its id."""
        return self._id(self._request("POST", "/runs", json=run), "run_id", "POST", "/runs")

    def get_run(self, run_id: str) -> RunStatus:
        run = self._request("GET", f"/runs/{run_id}")
        error = run.get("error")
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
        return RunStatus(run_id, str(run.get("state") or "RUNTIME_STATE_UNSPECIFIED"), self._scrub(" ".join(message.split())))

    def run_url(self, run_id: str) -> str:
        """Where the run shows in the Kubeflow Pipelines UI."""
        return f"{self.host}/#/runs/details/{run_id}"

    # Recurring runs

    def list_recurring_runs(self, experiment_id: str, display_name: str) -> list[RecurringRun]:
        """The recurring runs named `display_name` in an experiment."""
        params = self._namespaced({"experiment_id": experiment_id, "filter": _name_filter(display_name)})
        found = self._list("/recurringruns", "recurring_runs", params)
        named = [item for item in found if item.get("display_name") == display_name]
        return [RecurringRun(self._id(item, "recurring_run_id", "GET", "/recurringruns"), display_name) for item in named]

    def create_recurring_run(self, recurring_run: dict[str, Any]) -> str:
        """Creates a recurring run from a v2beta1 RecurringRun body; returns its id."""
        return self._id(self._request("POST", "/recurringruns", json=recurring_run), "recurring_run_id", "POST", "/recurringruns")

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        self._request("DELETE", f"/recurringruns/{recurring_run_id}")


def _message(response: requests.Response) -> str:
    """The API's error message in one line (grpc-gateway bodies carry `message` or `error`)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = str(body.get("message") or body.get("error") or "") if isinstance(body, dict) else response.text
    line = " ".join(text.split())
    return (line[:300] + "...") if len(line) > 300 else line or "no message"
