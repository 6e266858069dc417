"""The launcher's object-store side: bucket configs, local mirror paths, blob upload/download.

Ported from kubeflow/pipelines `backend/src/v2/objectstore/config.go` (ParseBucketConfig,
ParseBucketConfigForArtifactURI, KeyFromURI, PrefixedBucket), `objectstore/object_store.go`
(UploadBlob, DownloadBlob) and `component/launcher_v2.go` (LocalPathForURI), tag 2.5.0
(identical at 2.4.0 for these functions).

Stand-ins: `minio://` and `s3://` buckets live in an S3-API server (moto in server mode on
loopback, where the cluster has MinIO or S3); `gs://` buckets in a GCS JSON-API server
(gcp-storage-emulator on loopback), which the launcher reaches with the google-cloud-storage
client where the real one uses gocloud's `gcsblob` (object_store.go OpenBucket, 2.5.0).
Substitution: the launcher mirrors artifacts under the absolute paths `/minio`, `/s3`,
`/gcs` of the pod; here each pod gets its own directory (`pod_root`) and those paths live
under it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

# launcher_v2.go LocalPathForURI (2.5.0): URI scheme -> mirror directory at the pod's root.
MIRRORS: tuple[tuple[str, str], ...] = (("gs://", "gcs"), ("minio://", "minio"), ("s3://", "s3"))
# objectstore/config.go bucketPattern (2.5.0).
_BUCKET_PATTERN = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")
_SUPPORTED_SCHEMES = ("gs://", "s3://", "minio://", "mem://")


class UnsupportedURI(ValueError):
    """A URI the launcher has no local mirror for, or the backend no bucket for."""


def local_path_for_uri(uri: str, pod_root: Path) -> str:
    """LocalPathForURI: `minio://b/k` -> `<pod_root>/minio/b/k` (`/minio/b/k` in a real pod)."""
    for scheme, mirror in MIRRORS:
        if uri.startswith(scheme):
            return f"{pod_root}/{mirror}/{uri[len(scheme) :]}"
    raise UnsupportedURI(f"failed to generate local path for URI {uri}: unsupported storage scheme")


@dataclass(frozen=True)
class BucketConfig:
    """objectstore.Config: scheme (`minio://`), bucket name and key prefix (ending in `/` when set)."""

    scheme: str
    bucket_name: str
    prefix: str = ""

    def prefixed_bucket(self) -> str:
        """Config.PrefixedBucket: scheme + path.Join(bucket, prefix)."""
        return self.scheme + os.path.normpath(os.path.join(self.bucket_name, self.prefix))

    def key_from_uri(self, uri: str) -> str:
        """Config.KeyFromURI: the blob key of `uri` inside this bucket."""
        prefixed = self.prefixed_bucket()
        if not uri.startswith(prefixed):
            raise UnsupportedURI(f"URI {uri!r} does not have expected bucket prefix {prefixed!r}")
        key = uri[len(prefixed) :].lstrip("/")
        if not key:
            raise UnsupportedURI(f"URI {uri!r} has empty key given prefixed bucket {prefixed!r}")
        return key


def parse_bucket_config(path: str) -> BucketConfig:
    """ParseBucketPathToConfig: the pipeline root's bucket; a bare path or unknown scheme is rejected."""
    match = _BUCKET_PATTERN.match(path)
    if match is None:
        raise UnsupportedURI(f"parse bucket config failed: unrecognized pipeline root format: {path!r}")
    scheme, bucket, rest = match.group(1), match.group(2), match.group(3) or ""
    if scheme not in _SUPPORTED_SCHEMES:
        raise UnsupportedURI(f"parse bucket config failed: unsupported Cloud bucket: {path!r}")
    prefix = rest.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return BucketConfig(scheme, bucket, prefix)


def parse_bucket_config_for_artifact_uri(uri: str) -> BucketConfig:
    """ParseBucketConfigForArtifactURI: the bucket of an artifact outside the run's root (no prefix)."""
    match = _BUCKET_PATTERN.match(uri)
    if match is None or match.group(1) not in _SUPPORTED_SCHEMES:
        raise UnsupportedURI(f"parse bucket config failed: unrecognized uri format: {uri!r}")
    return BucketConfig(match.group(1), match.group(2))


class Bucket(Protocol):
    """The part of gocloud's blob.Bucket the launcher uses."""

    def write(self, key: str, local_file: str) -> None: ...

    def keys(self, prefix: str) -> Iterator[str]: ...

    def read(self, key: str, local_file: str) -> None: ...


class S3Bucket:
    """A bucket of the S3-API server (MinIO in the cluster; moto here), seen through a key prefix.

    object_store.go OpenBucket returns `blob.PrefixedBucket(bucket, config.Prefix)`: keys
    are relative to the pipeline root's path inside the bucket.
    """

    def __init__(self, client: object, name: str, prefix: str = "") -> None:
        self._client, self._name, self._prefix = client, name, prefix

    def write(self, key: str, local_file: str) -> None:
        self._client.upload_file(local_file, self._name, self._prefix + key)  # type: ignore[attr-defined]

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=self._name, Prefix=self._prefix + prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self._prefix) :]

    def read(self, key: str, local_file: str) -> None:
        self._client.download_file(self._name, self._prefix + key, local_file)  # type: ignore[attr-defined]


class GCSBucket:
    """A GCS bucket seen through a key prefix, as object_store.go OpenBucket returns it for `gs://`
    (`blob.OpenBucket("gs://B?prefix=P")`, gcsblob). `client` is a google-cloud-storage Client.

    Nothing creates the bucket: as on GCS, writing to or listing a missing bucket fails (404).
    """

    def __init__(self, client: object, name: str, prefix: str = "") -> None:
        self._client, self._name, self._prefix = client, name, prefix

    def _blob(self, key: str) -> Any:
        return self._client.bucket(self._name).blob(self._prefix + key)  # type: ignore[attr-defined]

    def write(self, key: str, local_file: str) -> None:
        self._blob(key).upload_from_filename(local_file)

    def keys(self, prefix: str) -> Iterator[str]:
        for blob in self._client.list_blobs(self._name, prefix=self._prefix + prefix):  # type: ignore[attr-defined]
            yield blob.name[len(self._prefix) :]

    def read(self, key: str, local_file: str) -> None:
        self._blob(key).download_to_filename(local_file)


def upload_blob(bucket: Bucket, local_path: str, blob_path: str) -> None:
    """UploadBlob: a file, or a directory recursively, to keys under `blob_path`; FileNotFoundError when absent."""
    if not os.path.isdir(local_path):
        if not os.path.exists(local_path):
            raise FileNotFoundError(local_path)
        bucket.write(blob_path, local_path)
        return
    for name in sorted(os.listdir(local_path)):
        child = os.path.join(local_path, name)
        upload_blob(bucket, child, f"{blob_path}/{name}")


def download_blob(bucket: Bucket, local_dir: str, blob_dir: str) -> None:
    """DownloadBlob: every object whose key starts with `blob_dir` (a plain prefix, as the backend lists)."""
    for key in list(bucket.keys(blob_dir)):
        target = os.path.normpath(os.path.join(local_dir, os.path.relpath(key, blob_dir)))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        bucket.read(key, target)
