"""No secret in any message: every submit/schedule/compile error path, its output grepped for the token and the password.

Each case runs the real command line in-process against the loopback Kubeflow Pipelines
server (tests/kfp_fake_server.py) or an unreachable port, captures stdout, stderr and the
logs, and checks: the documented exit status, exactly one `retrain: error:` line saying
what is wrong, and neither the bearer token nor a URL password anywhere.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from kfp_fake_server import FakeKfpServer
from retrain.pipelines.cli import main
from retrain.pipelines.config import ConfigError
from retrain.pipelines.kubeflow.client import KfpClient, bearer_token
from retrain.pipelines.kubeflow.server_settings import AuthSettings

TOKEN = "tok3n-SECRET-a1b2c3"
PASSWORD = "pa55word-SECRET-9z"
SECRETS = (TOKEN, PASSWORD, "SECRET")
TOKEN_VARIABLE = "RETRAIN_TEST_KFP_AUTH"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


@pytest.fixture
def server() -> Iterator[FakeKfpServer]:
    with FakeKfpServer(token=TOKEN) as fake:
        yield fake


def _config(tmp_path: Path, host: str | None = None, auth: dict[str, Any] | None = None, **server: Any) -> str:
    settings = {"auth": auth or {"method": "token_env", "token_env_var": TOKEN_VARIABLE}, "poll_interval_seconds": 0.01, **server}
    if host is not None:
        settings["host"] = host
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"pipeline_name": "retrain-secrets", "kubeflow": {"server": settings}}))
    return str(path)


def _error_line(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """The one error line of the command that just ran (besides warnings), after checking no output holds a secret."""
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    leaked = [secret for secret in SECRETS if secret in everything]
    assert not leaked, everything
    caplog.clear()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("retrain: error: ")]
    assert len(errors) == 1 and all(line in errors or line.startswith("retrain: warning: ") for line in lines), captured.err
    return errors[0]


@pytest.mark.parametrize(
    "token",
    [
        f"{TOKEN}\nInjected: {TOKEN}",
        f"{TOKEN} {TOKEN}",
        f"{TOKEN}\x07",
        f"{TOKEN}\u00e9",
    ],
    ids=["newline", "space", "bell", "non-ascii"],
)
def test_malformed_token_is_refused_without_echo(
    tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv(TOKEN_VARIABLE, token)
    assert main(["submit", "--config", _config(tmp_path, unreachable)]) == 2
    problem = "contains whitespace, control or non-ASCII characters (not shown)"
    assert f"kubeflow.server.auth: the token in environment variable {TOKEN_VARIABLE} {problem}" in _error_line(capsys, caplog)
    (tmp_path / "token").write_bytes(token.encode() + b"\n")
    file_auth = {"method": "token_file", "token_file": str(tmp_path / "token")}
    assert main(["schedule", "--config", _config(tmp_path, unreachable, file_auth), "--every", "1h"]) == 2
    assert f"kubeflow.server.auth.token_file: the token in {tmp_path / 'token'} {problem}" in _error_line(capsys, caplog)


def test_token_sources_strip_only_the_ends(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"  {TOKEN}\r\n")
    assert bearer_token(AuthSettings(method="token_file", token_file=tmp_path / "token"), {}) == TOKEN
    (tmp_path / "latin1").write_bytes(TOKEN.encode() + b"\xe9")
    with pytest.raises(ConfigError, match="non-ASCII characters") as refused:
        bearer_token(AuthSettings(method="token_file", token_file=tmp_path / "latin1"), {})
    assert TOKEN not in str(refused.value)


@pytest.mark.parametrize(
    "host, problem",
    [
        (f"http://retrain:{PASSWORD}@127.0.0.1:8080", "credentials in the URL are not allowed: 'http://***@127.0.0.1:8080'"),
        (f"https://{PASSWORD}@kfp.example.com/pipeline", "credentials in the URL are not allowed"),
        (f"ftp://retrain:{PASSWORD}@cluster", "credentials in the URL are not allowed: 'ftp://***@cluster'"),
        (f"retrain:{PASSWORD}@cluster:8080", "credentials in the URL are not allowed: '***@cluster:8080'"),
        (f"http://retrain:{PASSWORD}/x@cluster", "credentials in the URL are not allowed"),
    ],
)
def test_credentials_in_host_urls_are_refused_and_redacted(
    tmp_path: Path, host: str, problem: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    assert main(["submit", "--config", _config(tmp_path), "--host", host]) == 2
    assert f"--host: {problem}" in _error_line(capsys, caplog)
    assert main(["schedule", "--config", _config(tmp_path), "--host", host, "--delete"]) == 2
    assert f"--host: {problem}" in _error_line(capsys, caplog)
    in_file = _config(tmp_path, host)
    for command in (["submit"], ["schedule", "--every", "1h"], ["compile", "--output", str(tmp_path / "p.yaml")], ["config"]):
        assert main([command[0], "--config", in_file, *command[1:]]) == 2
        assert f"kubeflow.server.host: {problem}" in _error_line(capsys, caplog)
    assert not (tmp_path / "p.yaml").exists()
    with pytest.raises(ValueError, match="credentials in the URL") as refused:
        KfpClient(host, TOKEN, timeout=1)
    assert PASSWORD not in str(refused.value)


# Every request that can fail, failing: (what the server does, the command, the exit status, what the line says).
_UPLOAD = ("POST", "/pipelines/upload")
_SERVER_ERRORS: list[tuple[dict[str, Any], list[str], str]] = [
    ({"token": "another-token"}, ["submit"], "HTTP 401 Unauthorized: the Kubeflow Pipelines API refused the credentials"),
    ({"deny": 403}, ["schedule", "--every", "1h"], "HTTP 403 Forbidden"),
    ({"fail": (("GET", "/pipelines"),)}, ["submit"], "GET /apis/v2beta1/pipelines: HTTP 500"),
    ({"fail": (_UPLOAD,)}, ["submit"], "POST /apis/v2beta1/pipelines/upload: HTTP 500"),
    ({"fail": (("POST", "/experiments"),)}, ["submit"], "POST /apis/v2beta1/experiments: HTTP 500"),
    ({"fail": (("POST", "/runs"),)}, ["submit"], "POST /apis/v2beta1/runs: HTTP 500"),
    ({"fail": (("POST", "/recurringruns"),)}, ["schedule", "--every", "1h"], "POST /apis/v2beta1/recurringruns: HTTP 500"),
    ({"fail": (("GET", "/experiments"),)}, ["schedule", "--delete"], "GET /apis/v2beta1/experiments: HTTP 500"),
    ({"fail": (("GET", r"/runs/.*"),)}, ["submit", "--wait"], r"GET /apis/v2beta1/runs/"),
    ({"run_states": ("FAILED",)}, ["submit", "--wait"], "ended FAILED: step Trainer failed"),
    # A server (or a proxy in front of it) that echoes the Authorization header back.
    ({"answers": (("GET", "/pipelines", 400, {"message": f"bad request; header Authorization: Bearer {TOKEN}"}),)}, ["submit"], "HTTP 400"),
    ({"answers": (("GET", "/pipelines", 502, f"<html>upstream said Bearer {TOKEN}</html>".encode()),)}, ["submit"], "HTTP 502"),
    # Malformed answers: one line naming what is missing, never a KeyError.
    ({"answers": ((*_UPLOAD, 200, {}),)}, ["submit"], "POST /apis/v2beta1/pipelines/upload: the answer has no pipeline_id"),
    ({"answers": ((*_UPLOAD, 200, {"pipeline_id": None}),)}, ["submit"], "the answer has no pipeline_id"),
    ({"answers": (("GET", "/pipelines", 200, b"<html>login</html>"),)}, ["submit"], "the answer is not JSON"),
    ({"answers": (("GET", "/pipelines", 200, ["pipeline-1"]),)}, ["submit"], "the answer is not a JSON object"),
    ({"answers": (("GET", "/pipelines", 200, {"pipelines": "pipeline-1"}),)}, ["submit"], "the answer's pipelines is not a list of objects"),
    ({"answers": (("GET", "/pipelines", 200, {"pipelines": [{"display_name": "retrain-secrets"}]}),)}, ["submit"], "the answer has no pipeline_id"),
    ({"answers": (("GET", r"/pipelines/[^/]+/versions", 200, {"pipeline_versions": [{}]}),)}, ["submit"], "the answer has no pipeline_version_id"),
    ({"answers": (("POST", "/experiments", 200, {"display_name": "retrain"}),)}, ["submit"], "the answer has no experiment_id"),
    ({"answers": (("POST", "/runs", 200, {"state": "PENDING"}),)}, ["submit"], "POST /apis/v2beta1/runs: the answer has no run_id"),
    ({"answers": (("POST", "/recurringruns", 200, {}),)}, ["schedule", "--every", "1h"], "the answer has no recurring_run_id"),
    ({"answers": (("GET", r"/runs/.*", 200, {"state": "FAILED", "error": f"Bearer {TOKEN}"}),)}, ["submit", "--wait"], "ended FAILED"),
]


@pytest.mark.parametrize("behaviour, command, problem", _SERVER_ERRORS, ids=[f"{i}-{command[0]}" for i, (_, command, _) in enumerate(_SERVER_ERRORS)])
def test_server_errors_are_one_line_without_secrets(
    tmp_path: Path,
    behaviour: dict[str, Any],
    command: list[str],
    problem: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    with FakeKfpServer(**{"token": TOKEN, **behaviour}) as server:
        assert main([command[0], "--config", _config(tmp_path, server.url), *command[1:]]) == 1
        assert problem in _error_line(capsys, caplog)
        if "--wait" not in command and command[:2] != ["schedule", "--delete"]:
            assert server.state.runs == {} and server.state.recurring_runs == {}, "a failed command leaves no run behind"


def test_unreachable_host_is_one_line_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    host = f"http://127.0.0.1:{_closed_port()}"
    for command in (["submit", "--wait"], ["schedule", "--every", "1h"], ["schedule", "--delete"]):
        assert main([command[0], "--config", _config(tmp_path, host, timeout_seconds=2), *command[1:]]) == 1
        assert f"cannot reach the Kubeflow Pipelines API at {host} (connection refused)" in _error_line(capsys, caplog)
