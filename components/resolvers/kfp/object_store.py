"""Reads a resolved artifact's files where the KFP launcher stored them, with the access the launcher had.

A resolver step copies what it resolved into its own output (executor.emit): the
launcher uploads only output URIs under this run's root (`uploadOutputArtifacts`,
`Config.KeyFromURI`; kubeflow/pipelines `backend/src/v2/component/launcher_v2.go`,
`objectstore/config.go`, 2.4.0 and 2.5.0), and it downloads no artifact but the
step's inputs, so the step reads the resolved artifact itself.

Where and how: the launcher records on every output artifact the
`store_session_info` it uploaded with (`backend/src/v2/metadata/client.go`
RecordArtifact, 2.4.0 and 2.5.0), `{"Provider": "minio"|"s3"|"gs", "Params": {...}}`
as `objectstore.SessionInfo`, `StructuredS3Params` and `StructuredGCSParams` define
(`objectstore/config.go`). `OpenBucket` (`objectstore/object_store.go`) opens
minio/s3 with `fromEnv: false` with the access and secret keys in the Kubernetes
Secret `secretName` (keys `accessKeyKey`, `secretKeyKey`; the default MinIO's is
`mlpipeline-minio-artifact` with `accesskey`/`secretkey`, `config/env.go`
getDefaultMinioSessionInfo) at `endpoint`, over http when `disableSSL`, path-style
unless `forcePathStyle: false`; with `fromEnv: true` (or no session) with the
environment's credentials. gs: the token JSON in Secret `secretName` key `tokenKey`,
else the environment's default credentials. The launcher reads Secrets through the
Kubernetes API; a step gets them as environment variables instead: the compiled
platform spec maps each needed key (`secretAsEnv`) to `secret_env(secret, key)`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Iterator, Optional

from tfx import types

SESSION_PROPERTY = "store_session_info"
MINIO_SECRET = "mlpipeline-minio-artifact"  # config/env.go minioArtifactSecretName (2.4.0, 2.5.0)
MINIO_SECRET_KEYS = ("accesskey", "secretkey")  # its accessKeyKey, secretKeyKey
OBJECT_STORE_SCHEMES = ("minio://", "s3://", "gs://")
_AWS_ENDPOINT = re.compile(r"^(https://)?s3.amazonaws.com")  # object_store.go createS3BucketSession


class ObjectStoreError(RuntimeError):
    """The resolved artifact cannot be read (missing credentials, no session info, an unknown provider)."""


def secret_env(secret: str, key: str) -> str:
    """The environment variable a step finds key `key` of Kubernetes Secret `secret` in."""
    return "RETRAIN_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{secret}_{key}".upper())


def _from_secret(params: dict[str, str], key_field: str) -> str:
    secret, key = params.get("secretName", ""), params.get(key_field, "")
    name = secret_env(secret, key)
    value = os.environ.get(name, "")
    if not value:
        raise ObjectStoreError(f"object store: {name} is unset: map key {key!r} of Secret {secret!r} into this step (secretAsEnv)")
    return value


def _from_env(params: dict[str, str]) -> bool:
    return params.get("fromEnv", "false").lower() == "true" or not params.get("secretName")


def session_of(artifact: types.Artifact) -> Optional[dict[str, Any]]:
    """The `store_session_info` the launcher recorded on `artifact`; None when it recorded none."""
    if not artifact.has_custom_property(SESSION_PROPERTY):
        return None
    text = artifact.get_string_custom_property(SESSION_PROPERTY)
    return json.loads(text) if text else None


def _split(uri: str) -> tuple[str, str, str]:
    scheme = next(s for s in OBJECT_STORE_SCHEMES if uri.startswith(s))
    bucket, _, key = uri[len(scheme) :].partition("/")
    return scheme, bucket, key.rstrip("/")


def _target(local_dir: str, key: str, object_key: str) -> Optional[str]:
    """DownloadBlob's local path for `object_key` under the blob directory `key` (None: not under it)."""
    if object_key == key:
        return local_dir
    if object_key.startswith(key + "/"):
        return os.path.join(local_dir, object_key[len(key) + 1 :])
    return None


def _s3_objects(bucket: str, key: str, params: dict[str, str]) -> Iterator[tuple[str, Any]]:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {"region_name": params.get("region") or None}
    endpoint = params.get("endpoint", "")
    if endpoint and not _AWS_ENDPOINT.match(endpoint.lower()):
        scheme = "http://" if params.get("disableSSL", "false").lower() == "true" else "https://"
        options["endpoint_url"] = endpoint if "://" in endpoint else scheme + endpoint
    if not _from_env(params):
        options["aws_access_key_id"] = _from_secret(params, "accessKeyKey")
        options["aws_secret_access_key"] = _from_secret(params, "secretKeyKey")
    path_style = params.get("forcePathStyle", "true").lower() == "true"
    client = boto3.client("s3", config=Config(s3={"addressing_style": "path" if path_style else "auto"}), **options)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for entry in page.get("Contents", []):
            yield entry["Key"], lambda path, k=entry["Key"]: client.download_file(bucket, k, path)


def _gcs_objects(bucket: str, key: str, params: dict[str, str]) -> Iterator[tuple[str, Any]]:
    import google.auth
    from google.cloud import storage

    if _from_env(params):
        client = storage.Client()
    else:
        scopes = ["https://www.googleapis.com/auth/devstorage.read_write"]  # object_store.go getGCSTokenClient
        credentials, project = google.auth.load_credentials_from_dict(json.loads(_from_secret(params, "tokenKey")), scopes=scopes)
        client = storage.Client(project=project, credentials=credentials)
    for blob in client.list_blobs(bucket, prefix=key):
        yield blob.name, blob.download_to_filename


def download(uri: str, session: Optional[dict[str, Any]], local_dir: str) -> None:
    """Copies the artifact at `uri` (a directory or one object) to `local_dir`, as the launcher's DownloadBlob lays it out.

    Local paths (local runs) are copied as they are; object-store URIs are read with `session`.
    """
    if not uri.startswith(OBJECT_STORE_SCHEMES):
        if os.path.isdir(uri):
            shutil.copytree(uri, local_dir, dirs_exist_ok=True)
        else:
            shutil.copyfile(uri, local_dir)
        return
    scheme, bucket, key = _split(uri)
    provider = (session or {}).get("Provider") or scheme[: -len("://")]
    params = (session or {}).get("Params") or {"fromEnv": "true"}
    if provider in ("minio", "s3"):
        objects = _s3_objects(bucket, key, params)
    elif provider == "gs":
        objects = _gcs_objects(bucket, key, params)
    else:
        raise ObjectStoreError(f"object store: {uri}: unknown provider {provider!r} in its {SESSION_PROPERTY} (use minio, s3 or gs)")
    found = False
    for object_key, fetch in objects:
        path = _target(local_dir, key, object_key)
        if path is None:
            continue
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fetch(path)
        found = True
    if not found:
        raise ObjectStoreError(f"object store: nothing stored at {uri}")
