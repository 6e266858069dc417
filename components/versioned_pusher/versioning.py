"""Versioned, atomic, idempotent pushes into a TF-Serving model directory.

Layout: `<base_directory>/<version>/` with integer versions 1, 2, 3, ... (TF
Serving serves the highest). A push copies the model into a hidden staging
directory and renames it into place, so a reader never sees a half-copied
version. A model whose content equals the latest pushed version is not pushed
again.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from tfx.dsl.io import fileio
from tfx.utils import io_utils

MANIFEST_FILE = "retrain_push.json"
_SAVED_MODEL_PB = "saved_model.pb"


@dataclass(frozen=True)
class PushResult:
    """What a push did: the version and path when it pushed, and why in words."""

    pushed: bool
    version: Optional[int]
    path: Optional[str]
    reason: str


def model_fingerprint(model_dir: str) -> str:
    """SHA-256 over the relative paths and bytes of every file in `model_dir`."""
    digest = hashlib.sha256()
    files = []
    for root, _, names in fileio.walk(model_dir):
        files.extend(os.path.join(root, name) for name in names)
    for path in sorted(files):
        digest.update(os.path.relpath(path, model_dir).encode())
        with fileio.open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def pushed_versions(base_directory: str) -> list[int]:
    """The integer versions present under `base_directory`, ascending."""
    if not fileio.isdir(base_directory):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(base_directory))
    return sorted(int(name) for name in names if name.isdigit())


def read_manifest(version_dir: str) -> dict:
    """The push manifest of a version directory ({} when it has none)."""
    path = os.path.join(version_dir, MANIFEST_FILE)
    if not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as handle:
        return json.load(handle)


def _copy_saved_model(model_dir: str, target: str) -> None:
    # saved_model.pb goes last: model servers take it as the sign that a model is complete.
    io_utils.copy_dir(model_dir, target, deny_regex_patterns=[r"saved_model\.pb"])
    source_pb = os.path.join(model_dir, _SAVED_MODEL_PB)
    if fileio.exists(source_pb):
        fileio.copy(source_pb, os.path.join(target, _SAVED_MODEL_PB))


def push_model(model_dir: str, base_directory: str, source: str = "") -> PushResult:
    """Pushes `model_dir` as the next version under `base_directory` unless it is already the latest."""
    fingerprint = model_fingerprint(model_dir)
    versions = pushed_versions(base_directory)
    if versions:
        latest_dir = os.path.join(base_directory, str(versions[-1]))
        if read_manifest(latest_dir).get("fingerprint") == fingerprint:
            return PushResult(False, versions[-1], latest_dir, f"identical to the deployed version {versions[-1]}")
    fileio.makedirs(base_directory)
    staging = os.path.join(base_directory, f".staging-{uuid.uuid4().hex}")
    try:
        _copy_saved_model(model_dir, staging)
        manifest = {"fingerprint": fingerprint, "source": source, "pushed_at": time.time()}
        with fileio.open(os.path.join(staging, MANIFEST_FILE), "w") as handle:
            json.dump(manifest, handle, indent=2)
        version = (versions[-1] if versions else 0) + 1
        while True:
            target = os.path.join(base_directory, str(version))
            try:
                fileio.rename(staging, target, overwrite=False)
                return PushResult(True, version, target, f"pushed as version {version}")
            except Exception as error:  # another push took this version: take the next
                if not fileio.exists(target):
                    raise error
                version += 1
    finally:
        if fileio.exists(staging):
            fileio.rmtree(staging)
