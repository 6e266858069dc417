"""Submitting and scheduling against a loopback Kubeflow Pipelines API (tests/kfp_fake_server.py).

Everything goes over real HTTP to 127.0.0.1; nothing leaves the machine. The CLI tests run
`retrain submit` / `retrain schedule` in-process, through the real compiler.
"""

from __future__ import annotations

import io
import logging
import re
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml

from retrain.pipelines.cli import main
from retrain.pipelines.config import ConfigError
from retrain.pipelines.kubeflow.client import KfpAuthError, KfpClient, KfpError, RecurringRun, bearer_token
from retrain.pipelines.kubeflow.schedule import recurring_run_name, replace_recurring_run, trigger
from retrain.pipelines.kubeflow.schedule_format import check_cron, duration_seconds
from retrain.pipelines.kubeflow.server_settings import AuthSettings, ScheduleSettings, ServerSettings
from retrain.pipelines.kubeflow.submit import override_settings, start_run, wait_for_run
from retrain.pipelines.kubeflow.upload import Existing, pipeline_package, read_existing
from kfp_fake_server import FakeKfpServer, robfig_cron_parse

TOKEN = "s3cr3t-token-for-tests"

# A small valid compiled pipeline (the PipelineJob form TFX's V2 runner writes), with a Kubernetes platform section.
COMPILED: dict[str, Any] = {
    "displayName": "retrain-test",
    "pipelineSpec": {
        "pipelineInfo": {"name": "retrain-test"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "tfx-1.16.0",
        "deploymentSpec": {
            "executors": {"Trainer_executor": {"container": {"image": "retrain:latest", "command": ["python"], "args": ["-m", "trainer"]}}}
        },
        "components": {"Trainer": {"executorLabel": "Trainer_executor"}},
        "root": {"dag": {"tasks": {"Trainer": {"taskInfo": {"name": "Trainer"}, "componentRef": {"name": "Trainer"}}}}},
    },
    "platformSpec": {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {
                    "executors": {
                        "Trainer_executor": {
                            "nodeSelector": {"labels": {"cloud.google.com/gke-nodepool": "gpu-pool"}},
                            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                        }
                    }
                }
            }
        }
    },
    "runtimeConfig": {"gcsOutputDirectory": "gs://bucket/pipeline-root", "parameterValues": {"epochs": 3}},
}


@pytest.fixture
def server() -> Iterator[FakeKfpServer]:
    with FakeKfpServer(token=TOKEN) as fake:
        yield fake


def _client(server: FakeKfpServer, token: str | None = TOKEN) -> KfpClient:
    return KfpClient(server.url, token, timeout=5)


def _settings(server: FakeKfpServer, **values: Any) -> ServerSettings:
    return ServerSettings(host=server.url, **values)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Local validation


VALID_CRONS = ["0 0 3 * * *", "0 */15 * * * ?", "30 0 9 ? * MON-FRI", "0 0 0 1,15 JAN-jun *", "0 5/10 8-18 * * 1-5"]


@pytest.mark.parametrize("expression", VALID_CRONS)
def test_valid_cron_expressions(expression: str) -> None:
    assert check_cron(f"  {expression} ") == expression


@pytest.mark.parametrize(
    "expression, problem",
    [
        ("0 3 * * *", "has 5 fields"),
        ("@daily", "has 1 fields"),
        ("60 0 3 * * *", "second field '60': 60 is outside 0-59"),
        ("0 0 24 * * *", "hour field '24'"),
        ("0 0 3 0 * *", "day-of-month field '0'"),
        ("0 0 3 * 13 *", "month field '13'"),
        ("0 0 3 * * 7", "day-of-week field '7'"),
        ("0 0 3 * * FOO", "'FOO' is not a number"),
        ("0 */0 * * * *", "step '0'"),
        ("? 0 3 * * *", "'?' is only allowed"),
        ("0 0 5-3 * * *", "runs backwards"),
    ],
)
def test_invalid_cron_names_the_field(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match="cron") as error:
        check_cron(expression)
    assert problem in str(error.value)


@pytest.mark.parametrize("expression", VALID_CRONS)
def test_what_retrain_accepts_the_backend_parses_too(expression: str) -> None:
    """robfig/cron v1.2.0's Parse (the fake's port) takes every cron `check_cron` accepts: local checks never let through less."""
    robfig_cron_parse(check_cron(expression))


@pytest.mark.parametrize(
    "expression, error",
    [
        ("0 0 3 * * * *", "Expected 5 to 6 fields, found 7"),
        ("60 0 3 * * *", "End of range (60) above maximum (59)"),
        ("0 0 3 0 * *", "Beginning of range (0) below minimum (1)"),
        ("0 0 3 * * FOO", "Failed to parse int from FOO"),
        ("0 */0 * * * *", "Step of range should be a positive number"),
        ("0 0 5-3 * * *", "Beginning of range (5) beyond end of range (3)"),
        ("0 1-2-3 * * *", "Too many hyphens"),
        ("@fortnightly", "Unrecognized descriptor"),
        ("@every soon", "Failed to parse duration"),
    ],
)
def test_the_fake_parses_cron_like_the_backend(expression: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        robfig_cron_parse(expression)


def test_five_field_crons_parse_on_the_backend_but_mean_something_else() -> None:
    """robfig/cron v1.2.0 (DowOptional) reads '0 3 * * *' as second 0, minute 3 of every hour: retrain refuses it locally."""
    robfig_cron_parse("0 3 * * *")
    robfig_cron_parse("@daily")
    with pytest.raises(ValueError, match="has 5 fields"):
        check_cron("0 3 * * *")


def test_durations() -> None:
    assert [duration_seconds(text) for text in ("30m", "6h", "1d12h", "90s", "1h30m")] == [1800, 21600, 129600, 90, 5400]
    for bad in ("", "6", "h", "1.5h", "30s", "1m1d", "-1h"):
        with pytest.raises(ValueError, match="duration"):
            duration_seconds(bad)


def test_command_line_overrides_config_and_names_the_flag() -> None:
    configured = ServerSettings(host="http://config:8080", namespace="team", experiment="nightly", schedule=ScheduleSettings(every="6h"))
    merged = override_settings(configured, {"host": "http://cli:8888/", "namespace": None, "experiment": "adhoc"})
    assert (merged.host, merged.namespace, merged.experiment, merged.schedule.every) == ("http://cli:8888", "team", "adhoc", "6h")
    with pytest.raises(ConfigError, match=r"^--host: not an http\(s\) URL"):
        override_settings(configured, {"host": "cluster:8080"})
    with pytest.raises(ConfigError, match=r"^--cron: cron '\* \* \*' has 3 fields"):
        override_settings(configured, {"schedule.every": None, "schedule.cron": "* * *"})
    with pytest.raises(ValueError, match="give cron or every, not both"):
        ScheduleSettings(cron="0 0 3 * * *", every="1d")
    assert trigger(ScheduleSettings(every="1h")) == {"periodic_schedule": {"interval_second": "3600"}}
    with pytest.raises(ConfigError, match="--cron EXPR or --every DURATION"):
        trigger(ScheduleSettings())


def test_bearer_token_sources(tmp_path: Path) -> None:
    assert bearer_token(AuthSettings(), {}) is None
    assert bearer_token(AuthSettings(method="token_env", token_env_var="MY_TOKEN"), {"MY_TOKEN": f" {TOKEN}\n"}) == TOKEN
    (tmp_path / "token").write_text(TOKEN + "\n")
    assert bearer_token(AuthSettings(method="token_file", token_file=tmp_path / "token"), {}) == TOKEN
    assert bearer_token(AuthSettings(method="service_account", service_account_token_path=tmp_path / "token"), {}) == TOKEN
    with pytest.raises(ConfigError, match="environment variable MY_TOKEN is not set"):
        bearer_token(AuthSettings(method="token_env", token_env_var="MY_TOKEN"), {})
    with pytest.raises(ConfigError, match=r"auth.service_account_token_path: cannot read .*missing"):
        bearer_token(AuthSettings(method="service_account", service_account_token_path=tmp_path / "missing"), {})


# The client against the loopback server


def test_upload_new_pipeline_then_new_versions_and_runs(server: FakeKfpServer) -> None:
    client, package = _client(server), pipeline_package(COMPILED)
    settings = _settings(server)
    first, run_id = start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", package, settings, "retrain-pipeline")
    second, _ = start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", package, settings, "retrain-pipeline")

    assert len(server.state.pipelines) == 1 and len(server.state.experiments) == 1
    assert first.pipeline_id == second.pipeline_id and first.version_id != second.version_id
    assert len(server.calls("POST", "/pipelines/upload")) == 1 and len(server.calls("POST", "/pipelines/upload_version")) == 1
    version = server.state.versions[second.version_id]
    assert version["spec"].pipeline_info.name == "retrain-test"
    assert version["executors"]["Trainer_executor"].node_selector.labels["cloud.google.com/gke-nodepool"] == "gpu-pool"
    run = server.calls("POST", "/runs")[0].json()
    assert run["pipeline_version_reference"] == {"pipeline_id": first.pipeline_id, "pipeline_version_id": first.version_id}
    assert run["runtime_config"] == {"pipeline_root": "gs://bucket/pipeline-root", "parameters": {"epochs": 3}}
    assert run["service_account"] == "retrain-pipeline" and run["experiment_id"] == first.experiment_id
    assert client.run_url(run_id) == f"{server.url}/#/runs/details/{run_id}"
    assert all(request.headers.get("authorization") == f"Bearer {TOKEN}" for request in server.requests)


def test_the_fake_refuses_unknown_fields_wrong_crons_and_names_uploads_by_file(server: FakeKfpServer) -> None:
    """Requests the real API server would silently mangle (unknown fields) or refuse (cron) fail; retrain's own pass."""
    client, package = _client(server), pipeline_package(COMPILED)
    uploaded, _ = start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", package, _settings(server), None)
    reference = {"pipeline_id": uploaded.pipeline_id, "pipeline_version_id": uploaded.version_id}
    run = {"display_name": "r", "experiment_id": uploaded.experiment_id, "pipeline_version_reference": reference}
    with pytest.raises(KfpError, match=r"unknown field runtime_config\.pipelineRootPath in a V2beta1Run"):
        client.create_run({**run, "runtime_config": {"pipelineRootPath": "gs://bucket"}})
    with pytest.raises(KfpError, match="unknown field serviceAccountName"):
        client.create_run({**run, "serviceAccountName": "retrain-pipeline"})
    client.create_run({**run, "runtimeConfig": {"pipelineRoot": "gs://bucket"}})  # jsonpb also takes lowerCamelCase names
    recurring = {**run, "max_concurrency": "1", "trigger": {"cron_schedule": {"cron": "0 0 3 * * * *"}}}
    with pytest.raises(KfpError, match=re.escape("Schedule cron is not a supported format") + ".*Expected 5 to 6 fields, found 7"):
        client.create_recurring_run(recurring)
    client.create_recurring_run({**recurring, "trigger": {"cron_schedule": {"cron": "0 0 3 * * *"}}})

    # An upload without the `name` query parameter (retrain always sends one): named after the file.
    answer = requests.post(
        f"{server.url}/apis/v2beta1/pipelines/upload",
        files={"uploadfile": ("nightly.yaml", package.package)},
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["display_name"] == "nightly.yaml"


def test_failing_run_creation_leaves_no_version_behind() -> None:
    with FakeKfpServer(token=TOKEN, fail=(("POST", "/runs"),)) as server:
        client, package, settings = _client(server), pipeline_package(COMPILED), _settings(server)
        with pytest.raises(KfpError, match=r"POST /apis/v2beta1/runs: HTTP 500 .*injected failure"):
            start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", package, settings, None)
        assert server.state.pipelines == {} and server.state.versions == {} and server.state.experiments == {}

        server.fail = ()  # an existing pipeline gets a version; a failing run removes just that version
        uploaded, _ = start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", package, settings, None)
        server.fail = (("POST", "/runs"),)
        with pytest.raises(KfpError):
            start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", package, settings, None)
        assert list(server.state.versions) == [uploaded.version_id] and len(server.state.experiments) == 1


def test_recurring_run_upsert_replaces_never_duplicates(server: FakeKfpServer) -> None:
    client, package = _client(server), pipeline_package(COMPILED)
    name = "retrain-test"

    def schedule(settings: ServerSettings) -> str:
        existing = read_existing(client, name, settings.experiment)
        old = client.list_recurring_runs(existing.experiment_id, recurring_run_name(name)) if existing.experiment_id else []
        return replace_recurring_run(client, existing, old, name, package, settings, None)[0]

    first = schedule(_settings(server, schedule=ScheduleSettings(cron="0 0 3 * * *")))
    second = schedule(_settings(server, schedule=ScheduleSettings(every="6h", max_concurrency=2, catchup=True)))

    assert list(server.state.recurring_runs) == [second] and first != second
    assert [r.path for r in server.calls("DELETE", r"/recurringruns/.*")] == [f"/apis/v2beta1/recurringruns/{first}"]
    created = [r.json() for r in server.calls("POST", "/recurringruns")]
    assert created[0]["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert (created[0]["max_concurrency"], created[0]["no_catchup"], created[0]["mode"]) == ("1", True, "ENABLE")
    assert created[1]["trigger"] == {"periodic_schedule": {"interval_second": "21600"}}
    assert (created[1]["max_concurrency"], created[1]["no_catchup"]) == ("2", False)
    assert client.list_recurring_runs(created[1]["experiment_id"], recurring_run_name(name)) == [RecurringRun(second, recurring_run_name(name))]


def test_failing_recurring_run_creation_keeps_the_old_one(server: FakeKfpServer) -> None:
    client, package, settings = _client(server), pipeline_package(COMPILED), _settings(server, schedule=ScheduleSettings(every="1h"))
    existing = read_existing(client, "retrain-test", "retrain")
    first = replace_recurring_run(client, existing, [], "retrain-test", package, settings, None)[0]
    versions = set(server.state.versions)
    server.fail = (("POST", "/recurringruns"),)
    existing = read_existing(client, "retrain-test", "retrain")
    old = client.list_recurring_runs(existing.experiment_id or "", recurring_run_name("retrain-test"))
    with pytest.raises(KfpError, match="injected failure"):
        replace_recurring_run(client, existing, old, "retrain-test", package, settings, None)
    assert list(server.state.recurring_runs) == [first] and set(server.state.versions) == versions


def test_refused_credentials_and_unreachable_hosts(server: FakeKfpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KfpAuthError, match=r"HTTP 401 Unauthorized: the Kubeflow Pipelines API refused the credentials") as refused:
        read_existing(_client(server, token="wrong-" + TOKEN), "retrain-test", "retrain")
    assert TOKEN not in str(refused.value) and TOKEN not in repr(_client(server))
    with FakeKfpServer(deny=403) as forbidding:
        with pytest.raises(KfpAuthError, match="HTTP 403 Forbidden"):
            read_existing(_client(forbidding), "retrain-test", "retrain")
        assert forbidding.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(KfpError, match=r"cannot reach the Kubeflow Pipelines API at http://127.0.0.1:\d+ \(connection refused\)") as unreachable:
        read_existing(KfpClient(f"http://127.0.0.1:{_closed_port()}", TOKEN, timeout=2), "retrain-test", "retrain")
    assert TOKEN not in str(unreachable.value)
    assert caplog.records and TOKEN not in caplog.text


def test_wait_follows_the_run_to_its_end() -> None:
    with FakeKfpServer(run_states=("PENDING", "RUNNING", "RUNNING", "FAILED")) as server:
        client, settings = _client(server, token=None), _settings(server, poll_interval_seconds=5.0)
        _, run_id = start_run(client, Existing(None, None), "retrain-test", pipeline_package(COMPILED), settings, None)
        out, sleeps = io.StringIO(), []
        status = wait_for_run(client, run_id, settings, out, sleep=sleeps.append)
        assert (status.state, status.error, status.succeeded) == ("FAILED", "step Trainer failed", False)
        assert sleeps == [5.0, 5.0, 5.0]
        assert [line.split(": ")[1] for line in out.getvalue().splitlines()] == ["PENDING", "RUNNING", "FAILED"]

        clock = iter(range(0, 1000, 40))
        bounded = _settings(server, poll_interval_seconds=30.0, wait_timeout_seconds=100.0)
        server.run_states = ("RUNNING",)
        _, run_id = start_run(client, read_existing(client, "retrain-test", "retrain"), "retrain-test", pipeline_package(COMPILED), bounded, None)
        with pytest.raises(KfpError, match=r"still RUNNING after 100s \(it keeps running on the server: http://127"):
            wait_for_run(client, run_id, bounded, io.StringIO(), sleep=lambda _: None, clock=lambda: float(next(clock)))


# The command line (through the real compiler)


def _config(tmp_path: Path, server: FakeKfpServer | None = None, **server_settings: Any) -> Path:
    settings = {"auth": {"method": "token_env", "token_env_var": "RETRAIN_TEST_KFP_TOKEN"}, "poll_interval_seconds": 0.01, **server_settings}
    if server is not None:
        settings["host"] = server.url
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"pipeline_name": "retrain-cli", "kubeflow": {"server": settings}}))
    return path


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_TEST_KFP_TOKEN", TOKEN)
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retrain: error: "), captured.err
    assert TOKEN not in captured.out + captured.err
    return lines[0]


@pytest.mark.usefixtures("token_env")
def test_cli_usage_errors_before_any_request(tmp_path: Path, server: FakeKfpServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "--config", str(_config(tmp_path))]) == 2
    assert "no Kubeflow Pipelines host: pass --host URL" in _one_error_line(capsys)
    config = str(_config(tmp_path, server))
    assert main(["schedule", "--config", config, "--cron", "0 3 * * *"]) == 2
    assert "--cron: cron '0 3 * * *' has 5 fields; Kubeflow Pipelines needs 6" in _one_error_line(capsys)
    assert main(["schedule", "--config", config, "--every", "often"]) == 2
    assert "--every: duration 'often'" in _one_error_line(capsys)
    assert main(["schedule", "--config", config]) == 2
    assert "schedule needs --cron EXPR or --every DURATION" in _one_error_line(capsys)
    assert main(["submit", "--config", config, "--host", "ftp://cluster"]) == 2
    assert "--host: not an http(s) URL" in _one_error_line(capsys)
    assert main(["submit", "--config", config, "--span", "-1"]) == 2
    assert "--span must be a span number >= 0, got -1" in _one_error_line(capsys)
    assert server.requests == []


def test_cli_missing_token_and_server_errors(
    tmp_path: Path, server: FakeKfpServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETRAIN_TEST_KFP_TOKEN", raising=False)
    assert main(["submit", "--config", str(_config(tmp_path, server))]) == 2
    assert "kubeflow.server.auth: environment variable RETRAIN_TEST_KFP_TOKEN is not set" in _one_error_line(capsys)
    monkeypatch.setenv("RETRAIN_TEST_KFP_TOKEN", "wrong")
    assert main(["submit", "--config", str(_config(tmp_path, server))]) == 1
    assert "HTTP 401" in _one_error_line(capsys)
    monkeypatch.setenv("RETRAIN_TEST_KFP_TOKEN", TOKEN)
    assert main(["schedule", "--config", str(_config(tmp_path)), "--host", f"http://127.0.0.1:{_closed_port()}", "--every", "1h"]) == 1
    assert "(connection refused)" in _one_error_line(capsys)
    assert server.state.pipelines == {} and server.state.experiments == {}


@pytest.mark.usefixtures("token_env")
def test_cli_gpu_settings_errors_before_any_request(tmp_path: Path, server: FakeKfpServer, capsys: pytest.CaptureFixture[str]) -> None:
    for kubeflow, problem in (
        ({"gpu": {"type": "nvidia.com/tpu"}}, "kubeflow.gpu.type: unknown GPU type 'nvidia.com/tpu'"),
        ({"gpu": {"node_pool": None}}, "GPUs are requested but kubeflow.gpu.node_pool is not set"),
    ):
        config = _config(tmp_path, server)
        raw = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({**raw, "kubeflow": {**raw["kubeflow"], **kubeflow}}))
        assert main(["submit", "--config", str(config)]) == 2
        assert problem in _one_error_line(capsys)
    assert server.requests == []


@pytest.mark.usefixtures("token_env")
def test_cli_submit_uploads_runs_and_waits(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeKfpServer(token=TOKEN, run_states=("RUNNING", "SUCCEEDED")) as server:
        assert main(["submit", "--config", str(_config(tmp_path, server)), "--experiment", "nightly", "--wait", "--span", "4"]) == 0
        captured = capsys.readouterr()
        (run_id,) = server.state.runs
        assert server.state.runs[run_id]["runtime_config"]["parameters"] == {"span": 4}  # epochs: the compiled default
        assert server.state.runs[run_id]["runtime_config"]["pipeline_root"] == "minio://mlpipeline/v2/artifacts"  # KFP reads no other
        assert f"run: {server.url}/#/runs/details/{run_id}" in captured.out.splitlines()
        assert captured.out.strip().endswith(f"run {run_id}: SUCCEEDED")
        assert [e["display_name"] for e in server.state.experiments.values()] == ["nightly"]
        ((version,),) = [list(server.state.versions.values())]
        assert version["spec"].pipeline_info.name and "Trainer_executor" in version["executors"]
        trainer = version["executors"]["Trainer_executor"]
        assert trainer.node_selector.labels["cloud.google.com/gke-nodepool"] == "gpu-pool"
        assert server.state.runs[run_id]["service_account"] == "retrain-pipeline"
        assert all(request.headers["authorization"] == f"Bearer {TOKEN}" for request in server.requests)
        assert TOKEN not in captured.out + captured.err + caplog.text

        server.run_states = ("RUNNING", "FAILED")
        assert main(["submit", "--config", str(_config(tmp_path, server)), "--experiment", "nightly", "--wait"]) == 1
        assert "ended FAILED: step Trainer failed" in _one_error_line(capsys)
        assert len(server.state.pipelines) == 1 and len(server.state.versions) == 2


@pytest.mark.usefixtures("token_env")
def test_cli_failing_run_creation_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeKfpServer(token=TOKEN, fail=(("POST", "/runs"),)) as server:
        assert main(["submit", "--config", str(_config(tmp_path, server))]) == 1
        assert "POST /apis/v2beta1/runs: HTTP 500" in _one_error_line(capsys)
        assert len(server.calls("POST", "/pipelines/upload")) == 1
        assert server.state.pipelines == {} and server.state.versions == {} and server.state.experiments == {}


@pytest.mark.usefixtures("token_env")
def test_cli_schedule_upserts_and_deletes(tmp_path: Path, server: FakeKfpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(_config(tmp_path, server, schedule={"every": "1d"}))
    assert main(["schedule", "--config", config]) == 0
    assert main(["schedule", "--config", config, "--cron", "0 30 2 * * *"]) == 0
    out = capsys.readouterr().out
    assert "cron '0 30 2 * * *', max concurrency 1, catch-up off" in out and "replaced 1 earlier recurring run" in out
    (only,) = server.state.recurring_runs.values()
    assert only["trigger"] == {"cron_schedule": {"cron": "0 30 2 * * *"}} and only["display_name"] == "retrain-cli-schedule"
    assert only["runtime_config"]["pipeline_root"] == "minio://mlpipeline/v2/artifacts"
    assert len(server.calls("POST", "/recurringruns")) == 2 and len(server.calls("DELETE", r"/recurringruns/.*")) == 1
    assert main(["schedule", "--config", config, "--delete"]) == 0
    assert main(["schedule", "--config", config, "--delete"]) == 0
    assert server.state.recurring_runs == {}
    assert "no recurring run to delete" in capsys.readouterr().out
