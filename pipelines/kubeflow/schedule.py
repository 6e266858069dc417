"""`retrain schedule`: one recurring run per pipeline, replaced (never duplicated) when run again.

Kubeflow Pipelines cannot update a recurring run in place (kubeflow/pipelines#6001), so an
upsert uploads a new pipeline version, creates the new recurring run and then deletes the
old ones with the same name in the experiment. Creating first means a failure never leaves
the pipeline without a schedule: if the new recurring run cannot be created, or the old one
cannot be deleted, everything this command created is removed again.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, TextIO

from retrain.pipelines.config import ConfigError, RetrainConfig
from retrain.pipelines.kubeflow.client import KfpClient, KfpError, RecurringRun
from retrain.pipelines.kubeflow.schedule_format import duration_seconds
from retrain.pipelines.kubeflow.server_settings import ScheduleSettings, ServerSettings
from retrain.pipelines.kubeflow.submit import compile_package, connect, override_settings, pipeline_name
from retrain.pipelines.kubeflow.upload import Existing, PipelinePackage, Undo, Uploaded, read_existing, upload, version_reference


def recurring_run_name(name: str) -> str:
    """The display name that identifies a pipeline's recurring run within its experiment."""
    return f"{name}-schedule"


def trigger(schedule: ScheduleSettings) -> dict[str, Any]:
    """The v2beta1 Trigger of a schedule; ConfigError when it has neither cron nor interval."""
    if schedule.cron is not None:
        return {"cron_schedule": {"cron": schedule.cron}}
    if schedule.every is not None:
        return {"periodic_schedule": {"interval_second": str(duration_seconds(schedule.every))}}
    raise ConfigError("schedule needs --cron EXPR or --every DURATION (or kubeflow.server.schedule.cron/every in the config)")


def describe(schedule: ScheduleSettings) -> str:
    when = f"cron '{schedule.cron}'" if schedule.cron is not None else f"every {schedule.every}"
    return f"{when}, max concurrency {schedule.max_concurrency}, catch-up {'on' if schedule.catchup else 'off'}"


def recurring_run_body(
    name: str, uploaded: Uploaded, package: PipelinePackage, settings: ServerSettings, service_account: Optional[str]
) -> dict[str, Any]:
    """A v2beta1 RecurringRun of the uploaded version on the configured trigger."""
    schedule = settings.schedule
    body: dict[str, Any] = {
        "display_name": recurring_run_name(name),
        "description": f"retrain {name}: {describe(schedule)}",
        "experiment_id": uploaded.experiment_id,
        "pipeline_version_reference": version_reference(uploaded),
        "runtime_config": package.runtime_config,
        "trigger": trigger(schedule),
        "max_concurrency": str(schedule.max_concurrency),
        "no_catchup": not schedule.catchup,
        "mode": "ENABLE",
    }
    if settings.namespace:
        body["namespace"] = settings.namespace
    if service_account:
        body["service_account"] = service_account
    return body


def replace_recurring_run(
    client: KfpClient,
    existing: Existing,
    old: list[RecurringRun],
    name: str,
    package: PipelinePackage,
    settings: ServerSettings,
    service_account: Optional[str],
) -> tuple[str, Uploaded, int]:
    """Uploads a new version, creates its recurring run, then deletes `old`; returns (new id, version, deleted)."""
    undo = Undo()
    deleted = 0
    try:
        uploaded = upload(client, existing, name, settings.experiment, package, undo)
        new_id = client.create_recurring_run(recurring_run_body(name, uploaded, package, settings, service_account))
        undo.add(f"recurring run {new_id}", lambda: client.delete_recurring_run(new_id))
        for recurring_run in old:
            client.delete_recurring_run(recurring_run.recurring_run_id)
            deleted += 1
    except KfpError:
        if deleted == 0:  # once an old one is gone, keep the new one: running again removes the rest
            undo.run()
        raise
    return new_id, uploaded, deleted


def upsert_schedule(config: RetrainConfig, settings: ServerSettings, environ: Mapping[str, str], out: Optional[TextIO] = None) -> str:
    """Creates the recurring run, replacing any earlier one of the same pipeline; returns its id."""
    trigger(settings.schedule)
    client = connect(settings, environ)
    try:
        name = pipeline_name(config, settings)
        existing = read_existing(client, name, settings.experiment)
        old = client.list_recurring_runs(existing.experiment_id, recurring_run_name(name)) if existing.experiment_id else []
        package = compile_package(config)
        new_id, uploaded, deleted = replace_recurring_run(client, existing, old, name, package, settings, config.kubeflow.service_account)
        replaced = f"; replaced {deleted} earlier recurring run{'s' if deleted > 1 else ''}" if deleted else ""
        print(
            f"[retrain] recurring run '{recurring_run_name(name)}' ({describe(settings.schedule)}) in experiment '{settings.experiment}'{replaced}",
            file=out,
        )
        print(f"recurring run: {new_id} (pipeline version '{uploaded.version_name}')", file=out, flush=True)
        return new_id
    finally:
        client.close()


def delete_schedule(config: RetrainConfig, settings: ServerSettings, environ: Mapping[str, str], out: Optional[TextIO] = None) -> int:
    """Deletes the pipeline's recurring run(s); returns how many there were."""
    client = connect(settings, environ)
    try:
        name = pipeline_name(config, settings)
        experiment_id = client.find_experiment(settings.experiment)
        old = client.list_recurring_runs(experiment_id, recurring_run_name(name)) if experiment_id else []
        for recurring_run in old:
            client.delete_recurring_run(recurring_run.recurring_run_id)
        what = f"deleted {len(old)} recurring run{'s' if len(old) != 1 else ''}" if old else "no recurring run to delete"
        print(f"[retrain] {what}: '{recurring_run_name(name)}' in experiment '{settings.experiment}'", file=out, flush=True)
        return len(old)
    finally:
        client.close()


def schedule_command(
    config: RetrainConfig,
    host: Optional[str],
    namespace: Optional[str],
    experiment: Optional[str],
    cron: Optional[str],
    every: Optional[str],
    delete: bool,
) -> int:
    """`retrain schedule`: exit 0 when the recurring run is in place (or, with --delete, gone)."""
    configured = config.kubeflow.server
    if cron is not None or every is not None:  # the command line's trigger replaces the config's
        configured = configured.model_copy(update={"schedule": configured.schedule.model_copy(update={"cron": None, "every": None})})
    values = {"host": host, "namespace": namespace, "experiment": experiment, "schedule.cron": cron, "schedule.every": every}
    settings = override_settings(configured, values)
    if delete:
        delete_schedule(config, settings, os.environ)
    else:
        upsert_schedule(config, settings, os.environ)
    return 0
