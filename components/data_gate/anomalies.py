"""Reads ExampleValidator's anomalies and turns them into one readable summary."""

from __future__ import annotations

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio

ANOMALIES_FILE = "SchemaDiff.pb"


def load_split_anomalies(split_uri: str) -> anomalies_pb2.Anomalies:
    """The anomalies ExampleValidator wrote for one split (empty when there is no file)."""
    path = os.path.join(split_uri, ANOMALIES_FILE)
    if not fileio.exists(path):
        return anomalies_pb2.Anomalies()
    with fileio.open(path, "rb") as handle:
        return anomalies_pb2.Anomalies.FromString(handle.read())


def describe_anomalies(anomalies: anomalies_pb2.Anomalies) -> list[str]:
    """One entry per anomalous feature (and the dataset), e.g. `feature 'image': Column dropped`."""
    lines = []
    if anomalies.HasField("dataset_anomaly_info") and anomalies.dataset_anomaly_info.reason:
        lines.append(f"dataset: {anomalies.dataset_anomaly_info.short_description or anomalies.dataset_anomaly_info.description}")
    for feature, info in sorted(anomalies.anomaly_info.items()):
        detail = "; ".join(reason.short_description for reason in info.reason) or info.short_description
        lines.append(f"feature '{feature}': {detail}")
    return lines
