"""KFP backend protos compiled at test time: the KubernetesExecutorConfig each supported driver parses.

The .proto files in tests/kfp_backend/protos/<version>/ are verbatim copies from
kubeflow/pipelines (provenance in tests/kfp_backend/README.md). grpcio-tools' protoc compiles them
into a descriptor set, loaded into a pool of its own per version, so that messages of
different versions (one package name, `kfp_kubernetes`) never meet.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import grpc_tools
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message, message_factory
from google.rpc import status_pb2
from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent / "kfp_backend" / "protos"
# Backend version -> the protos/ directory its driver is built with. 2.4.1's go.mod pins the same
# kubernetes_platform module as 2.4.0 (d911c8b73b49, no `replace`); its tree's copy is byte-identical too.
BACKEND_PROTO = {"2.4.0": "2.4.0", "2.4.1": "2.4.0", "2.5.0": "2.5.0"}
_WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto shipped with protoc
_GOOGLEAPIS = Path(status_pb2.__file__).parents[2]  # google/rpc/status.proto (googleapis-common-protos)


@functools.cache
def executor_config_class(version: str) -> type[message.Message]:
    """`kfp_kubernetes.KubernetesExecutorConfig` as the KFP backend `version` (a BACKEND_PROTO key) defines it."""
    if version not in BACKEND_PROTO:
        raise ValueError(f"KFP backend {version!r}: no protos here (use one of {sorted(BACKEND_PROTO)})")
    source = PROTO_DIR / BACKEND_PROTO[version]
    with tempfile.TemporaryDirectory() as scratch:
        descriptor_set = Path(scratch) / "protos.pb"
        arguments = ["protoc", f"-I{source}", f"-I{_WELL_KNOWN}", f"-I{_GOOGLEAPIS}", "--include_imports", f"--descriptor_set_out={descriptor_set}"]
        if protoc.main([*arguments, str(source / "kubernetes_executor_config.proto")]) != 0:
            raise RuntimeError(f"protoc could not compile {source}")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("kfp_kubernetes.KubernetesExecutorConfig"))


def parse_executor_config(config: dict[str, Any], version: str) -> message.Message:
    """Parses `config` strictly (unknown fields are errors, as 2.4.0's jsonpb.Unmarshal) with `version`'s proto."""
    return json_format.ParseDict(config, executor_config_class(version)())
