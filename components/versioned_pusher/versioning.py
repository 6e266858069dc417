"""Versioned, atomic, idempotent pushes into a TF-Serving model directory.

Layout: `<base_directory>/<version>/` with integer versions 1, 2, 3, ... (TF Serving
serves the highest). Each version holds `retrain_push.json` (its content digest, eval
accuracy, with several tasks each task's, source, time), written into the staging copy before the rename, so a
version and its record appear together. A push:
1. takes the destination's lock (`.<model name>.retrain-push.lock` beside the model
   directory; local destinations), so concurrent pushers act one after the other;
2. removes staging directories that no live pusher owns (a push killed mid-copy);
3. refuses a model whose content digest equals ANY pushed version's;
4. refuses a model whose accuracy is more than `max_accuracy_drop` below the best
   pushed version's, so repeated small drops cannot add up (with several tasks: any
   task's accuracy more than its allowance below the best pushed for that task);
5. copies into a hidden staging directory and renames it to the next free version.
TF Serving ignores every name here that is not an integer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional

from tfx.dsl.io import fileio
from tfx.utils import io_utils

from retrain.components.versioned_pusher.digest import SAVED_MODEL_PB, model_content_digest
from retrain.components.versioned_pusher.locking import exclusive_lock

MANIFEST_FILE = "retrain_push.json"
LOCK_SUFFIX = ".retrain-push.lock"
STAGING_PREFIX = ".staging-"
PUSH_LOCK_WAIT_SECONDS = 600.0  # pushes take seconds; a holder this long is stuck, and the push fails naming it
STALE_STAGING_SECONDS = 6 * 3600  # remote destinations (no lock): staging older than this belongs to no live pusher
_STAGING_TIME = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")
_SLACK = 1e-9  # float noise in accuracy comparisons


@dataclass(frozen=True)
class PushResult:
    """What a push did: the version and path when it pushed (or the version it matched), and why in words."""

    pushed: bool
    version: Optional[int]
    path: Optional[str]
    reason: str


@dataclass(frozen=True)
class PushedVersion:
    """A version in the destination: its content digest and, when recorded, its eval accuracy (and each task's)."""

    version: int
    digest: str
    accuracy: Optional[float]
    task_accuracies: Mapping[str, float] = field(default_factory=dict)

    def accuracy_of(self, task: str) -> Optional[float]:
        """The recorded accuracy of `task` ("": the model's main accuracy)."""
        return self.task_accuracies.get(task) if task else self.accuracy


def is_local(path: str) -> bool:
    """A local filesystem path (not gs://, s3://, ...)."""
    return "://" not in path


def pushed_versions(base_directory: str) -> list[int]:
    """The integer versions present under `base_directory`, ascending."""
    if not fileio.isdir(base_directory):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(base_directory))
    return sorted(int(name) for name in names if name.isdigit())


def read_manifest(version_dir: str) -> dict:
    """The push record of a version directory ({} when it has none)."""
    path = os.path.join(version_dir, MANIFEST_FILE)
    if not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as handle:
        return json.load(handle)


def pushed_records(base_directory: str) -> list[PushedVersion]:
    """Every pushed version with its digest (computed for versions pushed without a record) and accuracy."""
    records = []
    for version in pushed_versions(base_directory):
        version_dir = os.path.join(base_directory, str(version))
        manifest = read_manifest(version_dir)
        digest = manifest.get("digest") or model_content_digest(version_dir, ignored=[MANIFEST_FILE])
        records.append(PushedVersion(version, digest, manifest.get("accuracy"), manifest.get("task_accuracies") or {}))
    return records


def remove_stale_staging(base_directory: str, older_than_seconds: Optional[float]) -> list[str]:
    """Removes staging directories left by killed pushes; returns their names.

    `older_than_seconds=None` removes every one (only while holding the destination's lock,
    which every live pusher holds for its whole push); otherwise only those whose name
    records a start more than that long ago.
    """
    if not fileio.isdir(base_directory):
        return []
    removed = []
    for name in (entry.rstrip("/") for entry in fileio.listdir(base_directory)):
        if not name.startswith(STAGING_PREFIX):
            continue
        if older_than_seconds is not None:
            started = _STAGING_TIME.match(name)
            if not started or time.time() - int(started.group(1)) < older_than_seconds:
                continue
        fileio.rmtree(os.path.join(base_directory, name))
        removed.append(name)
    return removed


def destination_lock_path(base_directory: str) -> Path:
    """`<parent>/.<model name>.retrain-push.lock`: beside the model directory, which holds only versions and staging."""
    base = Path(base_directory.rstrip("/"))
    return base.with_name(f".{base.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def destination_lock(base_directory: str) -> Iterator[None]:
    """Serialises pushers on a local destination; remote destinations have no lock (see the README)."""
    if not is_local(base_directory):
        yield
        return
    with exclusive_lock(destination_lock_path(base_directory), wait_seconds=PUSH_LOCK_WAIT_SECONDS):
        yield


def duplicate_refusal(digest: str, records: list[PushedVersion]) -> Optional[PushResult]:
    """A refusal when a pushed version has the same content digest (the deployed one or any earlier)."""
    same = [record.version for record in records if record.digest == digest]
    if not same:
        return None
    deployed = records[-1].version
    if same[-1] == deployed:
        reason = f"identical to the deployed version {deployed}"
    else:
        reason = f"identical to version {same[-1]}, pushed before (deployed: version {deployed})"
    return PushResult(False, same[-1], None, reason)


def drift_refusal(
    accuracy: Optional[float], max_accuracy_drop: Optional[float], records: list[PushedVersion], task: str = ""
) -> Optional[PushResult]:
    """A refusal when `accuracy` (of `task`; "": the model's) is more than `max_accuracy_drop` below the best pushed version's record."""
    scored = [(record.accuracy_of(task), record.version) for record in records if record.accuracy_of(task) is not None]
    if accuracy is None or max_accuracy_drop is None or not scored:
        return None
    best_accuracy, best_version = max(scored)
    drop = best_accuracy - accuracy
    if drop <= max_accuracy_drop + _SLACK:
        return None
    what, setting = (f"accuracy of task {task}", f"task {task}'s max_accuracy_drop") if task else ("accuracy", "evaluation.max_accuracy_drop")
    return PushResult(
        False,
        None,
        None,
        f"{what} {accuracy:.4f} is {drop:.4f} below version {best_version} ({best_accuracy:.4f}), the best pushed; "
        f"{setting} allows {max_accuracy_drop:.4f} in total",
    )


def task_drift_refusal(
    task_accuracies: Mapping[str, float], task_max_accuracy_drops: Mapping[str, float], records: list[PushedVersion]
) -> Optional[PushResult]:
    """The first task whose accuracy drifted more than its allowance below the best pushed for that task."""
    for task, accuracy in task_accuracies.items():
        refusal = drift_refusal(accuracy, task_max_accuracy_drops.get(task), records, task)
        if refusal:
            return refusal
    return None


def _copy_saved_model(model_dir: str, target: str) -> None:
    # saved_model.pb goes last: model servers take it as the sign that a model is complete.
    io_utils.copy_dir(model_dir, target, deny_regex_patterns=[r"saved_model\.pb"])
    source_pb = os.path.join(model_dir, SAVED_MODEL_PB)
    if fileio.exists(source_pb):
        fileio.copy(source_pb, os.path.join(target, SAVED_MODEL_PB))


def _claim_next_version(staging: str, base_directory: str, after: int) -> int:
    """Renames `staging` to the first free version above `after`; a version taken meanwhile moves it to the next."""
    version = after + 1
    while True:
        target = os.path.join(base_directory, str(version))
        try:
            fileio.rename(staging, target, overwrite=False)
            return version
        except Exception:  # another writer took this version: take the next
            if not fileio.exists(target):
                raise
            version += 1


def push_model(
    model_dir: str,
    base_directory: str,
    source: str = "",
    accuracy: Optional[float] = None,
    max_accuracy_drop: Optional[float] = None,
    task_accuracies: Optional[Mapping[str, float]] = None,
    task_max_accuracy_drops: Optional[Mapping[str, float]] = None,
) -> PushResult:
    """Pushes `model_dir` as the next version under `base_directory` unless a rule above refuses it.

    `accuracy`: the model's (main task's) eval accuracy; with several tasks, `task_accuracies` and
    `task_max_accuracy_drops` hold each task's accuracy and allowed drift.
    """
    task_accuracies = dict(task_accuracies or {})
    digest = model_content_digest(model_dir)
    fileio.makedirs(base_directory)
    with destination_lock(base_directory):
        remove_stale_staging(base_directory, None if is_local(base_directory) else STALE_STAGING_SECONDS)
        records = pushed_records(base_directory)
        refusal = (
            duplicate_refusal(digest, records)
            or drift_refusal(accuracy, max_accuracy_drop, records)
            or task_drift_refusal(task_accuracies, task_max_accuracy_drops or {}, records)
        )
        if refusal:
            return refusal
        staging = os.path.join(base_directory, f"{STAGING_PREFIX}{int(time.time())}-{uuid.uuid4().hex}")
        try:
            _copy_saved_model(model_dir, staging)
            manifest = {"digest": digest, "accuracy": accuracy, "source": source, "pushed_at": time.time()}
            if task_accuracies:
                manifest["task_accuracies"] = task_accuracies
            with fileio.open(os.path.join(staging, MANIFEST_FILE), "w") as handle:
                json.dump(manifest, handle, indent=2)
            version = _claim_next_version(staging, base_directory, records[-1].version if records else 0)
        finally:
            if fileio.exists(staging):
                fileio.rmtree(staging)
        target = os.path.join(base_directory, str(version))
        return PushResult(True, version, target, f"pushed as version {version}")
