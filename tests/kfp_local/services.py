"""The cluster's services on loopback: ML Metadata over gRPC, an S3-API server for MinIO, a GCS API server.

- ML Metadata: the real MLMD library (`ml_metadata.MetadataStore` on a SQLite file)
  behind a gRPC servicer of `ml_metadata.MetadataStoreService`, the service that the
  cluster's `metadata-grpc-service` serves and that both the KFP driver/launcher
  (`backend/src/v2/metadata/client.go`, 2.5.0) and the resolver steps
  (components/resolvers/kfp, `MetadataStoreClientConfig(host, port)`) talk to. Every RPC
  is handed to the MLMD library's own implementation of that RPC.
- Object stores: moto in server mode (a real HTTP S3 API) on loopback, holding the
  `minio://` / `s3://` buckets; gcp-storage-emulator (a GCS JSON API over HTTP) on loopback,
  holding the `gs://` buckets. Both accept any credentials (the cluster's MinIO checks the
  `mlpipeline-minio-artifact` keys, GCS the pod's identity); the GCS emulator also takes
  bucket names GCS rejects. What they do check and the clients depend on: a missing bucket
  or object is a 404 (NoSuchBucket/NoSuchKey on S3), listing is by plain key prefix.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2, metadata_store_service_pb2_grpc

from kfp_local.object_store import Bucket, BucketConfig, GCSBucket, S3Bucket, parse_bucket_config_for_artifact_uri

MINIO_ACCESS_KEY = "minio"  # the mlpipeline-minio-artifact Secret's values in KFP's manifests
MINIO_SECRET_KEY = "minio123"
GCS_PROJECT = "retrain-local"  # the project a GCS client names (the emulator checks none)
_SERVICE = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]


def _status_of(error: mlmd_errors.StatusError) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.UNKNOWN


class _MlmdHandler(grpc.GenericRpcHandler):
    """Serves each MetadataStoreService RPC with the MLMD library's implementation of it."""

    def __init__(self, store: metadata_store.MetadataStore) -> None:
        self._store = store
        self._lock = threading.Lock()  # one SQLite writer at a time
        self._handlers = {f"/{_SERVICE.full_name}/{method.name}": self._unary(method) for method in _SERVICE.methods}

    def _unary(self, method: Any) -> grpc.RpcMethodHandler:
        request_class = getattr(metadata_store_service_pb2, method.input_type.name)
        response_class = getattr(metadata_store_service_pb2, method.output_type.name)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            response = response_class()
            try:
                with self._lock:
                    self._store._call_method(method.name, request, response)  # noqa: SLF001  (MLMD's own dispatch)
            except AttributeError:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method.name} is not in the MLMD library")
            except mlmd_errors.StatusError as error:
                context.abort(_status_of(error), str(error))
            return response

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=request_class.FromString, response_serializer=response_class.SerializeToString
        )

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)


@dataclass
class MetadataService:
    """A running MLMD gRPC service: `host`/`port` as the metadata-grpc-configmap gives them."""

    host: str
    port: int
    server: grpc.Server

    def stub(self) -> metadata_store_service_pb2_grpc.MetadataStoreServiceStub:
        """A gRPC client of the service (what the backend's Go client is)."""
        return metadata_store_service_pb2_grpc.MetadataStoreServiceStub(grpc.insecure_channel(f"{self.host}:{self.port}"))

    def client_store(self) -> metadata_store.MetadataStore:
        """An MLMD Python client over gRPC (what the resolver steps open)."""
        return metadata_store.MetadataStore(metadata_store_pb2.MetadataStoreClientConfig(host=self.host, port=self.port))


def serve_metadata(sqlite_path: Path) -> MetadataService:
    """Starts the MLMD gRPC service on loopback over a SQLite file; `server.stop(None)` ends it."""
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(sqlite_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((_MlmdHandler(store),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return MetadataService("127.0.0.1", port, server)


@dataclass
class ObjectStores:
    """The buckets the launcher can open: S3-API ones at `s3_endpoint`, `gs://` ones at the GCS API `gcs_endpoint`."""

    s3_endpoint: str
    gcs_endpoint: str = ""  # "": this cluster has no GCS server (opening a gs:// bucket fails)

    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=MINIO_ACCESS_KEY,
            aws_secret_access_key=MINIO_SECRET_KEY,
            region_name="us-east-1",
        )

    def gcs_client(self) -> Any:
        """A google-cloud-storage client of the GCS server (the launcher's pod identity: anonymous here)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        if not self.gcs_endpoint:
            raise ValueError("this local cluster serves no GCS API: start it with start_gcs_server()")
        options = {"api_endpoint": self.gcs_endpoint}
        return storage.Client(project=GCS_PROJECT, credentials=AnonymousCredentials(), client_options=options, use_auth_w_custom_endpoint=False)

    def create_gcs_bucket(self, name: str) -> None:
        """`gcloud storage buckets create gs://NAME`: a gs:// root's bucket exists before any run (the launcher creates none)."""
        self.gcs_client().create_bucket(name)

    def open_bucket(self, config: BucketConfig) -> Bucket:
        """objectstore.OpenBucket: the bucket of `config` (MinIO's are created if new, as `mlpipeline` exists at install;
        a missing GCS bucket stays missing, so writes to it fail with 404 as on GCS)."""
        if config.scheme == "gs://":
            return GCSBucket(self.gcs_client(), config.bucket_name, config.prefix)
        client = self.s3_client()
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        if config.bucket_name not in existing:
            client.create_bucket(Bucket=config.bucket_name)
        return S3Bucket(client, config.bucket_name, config.prefix)

    def objects(self, uri_prefix: str) -> list[str]:
        """Keys under an `s3://`/`minio://`/`gs://` URI prefix (for tests)."""
        config = parse_bucket_config_for_artifact_uri(uri_prefix)
        key_prefix = uri_prefix[len(config.scheme) + len(config.bucket_name) :].lstrip("/")
        return list(self.open_bucket(config).keys(key_prefix))


def start_s3_server() -> tuple[Any, str]:
    """moto's S3-API server on loopback (a free port): (server, endpoint URL); `server.stop()` ends it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def start_gcs_server() -> tuple[Any, str]:
    """gcp-storage-emulator's GCS JSON-API server on loopback, in memory (a free port): (server, endpoint URL).

    `server.stop()` ends it. Clients reach it with `STORAGE_EMULATOR_HOST=<endpoint>`
    (google-cloud-storage then sends no credentials) or `client_options.api_endpoint`.
    """
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    host, port = server._api._httpd.server_address[:2]  # noqa: SLF001  (port 0: the emulator keeps the bound port there)
    return server, f"http://{host}:{port}"
