"""`retrain submit`: upload the pipeline as a new version, start a run, optionally follow it to the end.

Order of work: settings and credentials are checked locally, then the server is read
(unreachable hosts and refused credentials fail there), then the pipeline is compiled
(config errors such as an unknown GPU type fail there); only then is anything created,
and whatever was created is removed again when a later step fails.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, TextIO

from pydantic import ValidationError

from retrain.pipelines.config import ConfigError, RetrainConfig
from retrain.pipelines.kubeflow.client import KfpClient, KfpError, RunStatus, bearer_token
from retrain.pipelines.kubeflow.server_settings import ServerSettings
from retrain.pipelines.kubeflow.upload import Existing, PipelinePackage, Undo, Uploaded, pipeline_package, read_existing, upload, version_reference

_FLAGS = {"host": "--host", "namespace": "--namespace", "experiment": "--experiment", "schedule.cron": "--cron", "schedule.every": "--every"}


def override_settings(settings: ServerSettings, values: Mapping[str, Any]) -> ServerSettings:
    """`settings` with the command line's values (None: not given) in place of the config's."""
    merged = settings.model_dump()
    for key, value in values.items():
        if value is None:
            continue
        section, _, name = key.rpartition(".")
        (merged[section] if section else merged)[name] = value
    try:
        return ServerSettings.model_validate(merged)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        flag = _FLAGS.get(location, f"kubeflow.server.{location}")
        raise ConfigError(f"{flag}: {first['msg'].removeprefix('Value error, ')}") from None


def connect(settings: ServerSettings, environ: Mapping[str, str]) -> KfpClient:
    """A client for the configured host; ConfigError without a host or readable credentials."""
    if settings.host is None:
        raise ConfigError("no Kubeflow Pipelines host: pass --host URL or set kubeflow.server.host")
    token = bearer_token(settings.auth, dict(environ))
    return KfpClient(settings.host, token, settings.timeout_seconds, settings.namespace)


def compile_package(config: RetrainConfig) -> PipelinePackage:
    """Compiles the pipeline for open-source Kubeflow Pipelines; invalid settings raise ConfigError."""
    from retrain.pipelines.csv_staging import require_utf8_for_kubeflow
    from retrain.pipelines.kubeflow.compile import compile_pipeline_spec

    require_utf8_for_kubeflow(config)
    try:
        compiled = compile_pipeline_spec(config, target="kfp")
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(str(error).strip().splitlines()[0]) from None
    return pipeline_package(compiled, config.kubeflow.pipeline_root)


def run_parameter_values(values: Mapping[str, Optional[int]]) -> dict[str, int]:
    """The runtime parameters a run sets (`span`, `epochs`; None keeps the compiled default); bad values raise ConfigError."""
    chosen = {name: value for name, value in values.items() if value is not None}
    if "span" in chosen and chosen["span"] < 0:
        raise ConfigError(f"--span must be a span number >= 0, got {chosen['span']}")
    if "epochs" in chosen and chosen["epochs"] < 1:
        raise ConfigError(f"--epochs must be at least 1, got {chosen['epochs']}")
    return chosen


def with_run_parameters(package: PipelinePackage, chosen: Mapping[str, int]) -> PipelinePackage:
    """`package` whose runs set the `chosen` runtime parameters."""
    if not chosen:
        return package
    parameters = {**package.runtime_config.get("parameters", {}), **chosen}
    return replace(package, runtime_config={**package.runtime_config, "parameters": parameters})


def pipeline_name(config: RetrainConfig, settings: ServerSettings) -> str:
    """The name the pipeline is uploaded under (default: the config's pipeline_name)."""
    return settings.pipeline_name or config.pipeline_name


def run_body(display_name: str, uploaded: Uploaded, package: PipelinePackage, service_account: Optional[str]) -> dict[str, Any]:
    """A v2beta1 Run creating a run of the uploaded version."""
    body: dict[str, Any] = {
        "display_name": display_name,
        "experiment_id": uploaded.experiment_id,
        "pipeline_version_reference": version_reference(uploaded),
        "runtime_config": package.runtime_config,
    }
    if service_account:
        body["service_account"] = service_account
    return body


def start_run(
    client: KfpClient, existing: Existing, name: str, package: PipelinePackage, settings: ServerSettings, service_account: Optional[str]
) -> tuple[Uploaded, str]:
    """Uploads a new version and creates a run of it; on failure removes what was created, then raises."""
    undo = Undo()
    try:
        uploaded = upload(client, existing, name, settings.experiment, package, undo)
        display_name = f"{name} {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
        return uploaded, client.create_run(run_body(display_name, uploaded, package, service_account))
    except KfpError:
        undo.run()
        raise


def wait_for_run(
    client: KfpClient,
    run_id: str,
    settings: ServerSettings,
    out: Optional[TextIO] = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunStatus:
    """Polls the run every `poll_interval_seconds` until it ends; KfpError after `wait_timeout_seconds`."""
    deadline = clock() + settings.wait_timeout_seconds
    last_state = ""
    while True:
        status = client.get_run(run_id)
        if status.state != last_state:
            print(f"[retrain] run {run_id}: {status.state}", file=out, flush=True)
            last_state = status.state
        if status.finished:
            return status
        left = deadline - clock()
        if left <= 0:
            raise KfpError(
                f"run {run_id} is still {status.state} after {settings.wait_timeout_seconds:g}s "
                f"(it keeps running on the server: {client.run_url(run_id)})"
            )
        sleep(min(settings.poll_interval_seconds, left))


def submit(
    config: RetrainConfig,
    settings: ServerSettings,
    wait: bool,
    environ: Mapping[str, str],
    out: Optional[TextIO] = None,
    sleep: Callable[[float], None] = time.sleep,
    run_parameters: Mapping[str, Optional[int]] = {},
) -> RunStatus | None:
    """Uploads, creates the run (with `run_parameters` set) and prints its URL; with `wait`, follows it to its final status."""
    chosen = run_parameter_values(run_parameters)
    client = connect(settings, environ)
    try:
        name = pipeline_name(config, settings)
        existing = read_existing(client, name, settings.experiment)
        package = with_run_parameters(compile_package(config), chosen)
        uploaded, run_id = start_run(client, existing, name, package, settings, config.kubeflow.service_account)
        print(f"[retrain] pipeline '{name}' version '{uploaded.version_name}' uploaded; experiment '{settings.experiment}'", file=out)
        print(f"run: {client.run_url(run_id)}", file=out, flush=True)
        return wait_for_run(client, run_id, settings, out, sleep) if wait else None
    finally:
        client.close()


def submit_command(
    config: RetrainConfig,
    host: Optional[str],
    namespace: Optional[str],
    experiment: Optional[str],
    wait: bool,
    run_parameters: Mapping[str, Optional[int]] = {},
) -> int:
    """`retrain submit`: exit 0 when the run was created (with --wait: when it succeeded)."""
    settings = override_settings(config.kubeflow.server, {"host": host, "namespace": namespace, "experiment": experiment})
    status = submit(config, settings, wait, environ=os.environ, run_parameters=run_parameters)
    if status is not None and not status.succeeded:
        detail = f": {status.error}" if status.error else ""
        raise KfpError(f"run {status.run_id} ended {status.state}{detail}")
    return 0
