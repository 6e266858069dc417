"""A local stand-in for an open-source KFP installation: MLMD gRPC, S3-API and GCS API servers, pods as processes."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

from kfp_local.run import Cluster
from retrain.components.resolvers.kfp.object_store import MINIO_SECRET
from kfp_local.services import MINIO_ACCESS_KEY, MINIO_SECRET_KEY, ObjectStores, serve_metadata, start_gcs_server, start_s3_server

REPO_ROOT = Path(__file__).resolve().parents[2]


def image_environment(home: Path, gcs_endpoint: str) -> dict[str, str]:
    """The pipeline image's environment (Dockerfile ENV), with this repository and this venv as the image's.

    `STORAGE_EMULATOR_HOST` points the steps' google-cloud-storage clients (the resolver
    steps' gs:// reader, components/resolvers/kfp/object_store.py) at the local GCS server,
    where a cluster's pods get the application default credentials of their Kubernetes
    service account (Workload Identity) or `GOOGLE_APPLICATION_CREDENTIALS`.
    """
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        "TF_USE_LEGACY_KERAS": "1",
        "HOME": str(home),
        "STORAGE_EMULATOR_HOST": gcs_endpoint,
    }


def installed_secrets() -> dict[str, dict[str, str]]:
    """The Secrets a KFP install puts in each user namespace: MinIO's artifact credentials (KFP's manifests;
    the multi-user profile controller copies `mlpipeline-minio-artifact` into every profile namespace)."""
    return {MINIO_SECRET: {"accesskey": MINIO_ACCESS_KEY, "secretkey": MINIO_SECRET_KEY}}


@contextlib.contextmanager
def local_cluster(root: Path, kfp_version: str = "2.5.0") -> Iterator[Cluster]:
    """Starts the services (MLMD on a SQLite file under `root`, S3 and GCS APIs in memory; pods under `root`),
    and stops them afterwards.

    The driver pods find the S3-API server as the `minio-service` (MinioDefaultEndpoint).
    A gs:// root's bucket must be created first (`cluster.stores.create_gcs_bucket`).
    """
    metadata = serve_metadata(root / "mlmd.sqlite")
    s3_server, endpoint = start_s3_server()
    gcs_server, gcs_endpoint = start_gcs_server()
    try:
        yield Cluster(
            metadata,
            ObjectStores(endpoint, gcs_endpoint),
            root / "pods",
            image_environment(root / "home", gcs_endpoint),
            kfp_version,
            minio_endpoint=endpoint.split("://", 1)[1],
            secrets=installed_secrets(),
        )
    finally:
        gcs_server.stop()
        s3_server.stop()
        metadata.server.stop(None)
