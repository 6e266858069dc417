"""What data a run used: examples per span and split, label map, rejected records, schema anomalies."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.dsl.io import fileio

from retrain.components.data_gate.anomalies import describe_anomalies, load_split_anomalies
from retrain.components.image_example_gen.properties import ACCEPTED_COUNT_PROPERTY, REJECTED_COUNT_PROPERTY, REJECTED_DIR
from retrain.components.image_example_gen.records import Rejection
from retrain.components.label_prep.label_map import LabelMap, load_label_map
from retrain.components.label_prep.task_maps import saved_task_label_maps
from retrain.pipelines.report.runs import RunRecord, derived_artifacts
from retrain.pipelines.report.spans import int_property, span_of, used_examples

STATISTICS_FILE = "FeatureStats.pb"
REJECTION_SAMPLES = 5


@dataclass(frozen=True)
class SpanData:
    """One Examples artifact the run trained and evaluated on."""

    span: int
    examples_per_split: dict[str, Optional[int]]
    accepted: Optional[int] = None
    rejected: Optional[int] = None


@dataclass
class DataReport:
    """The data side of a run."""

    spans: list[SpanData] = field(default_factory=list)
    label_map: Optional[LabelMap] = None  # the main task's
    task_label_maps: dict[str, LabelMap] = field(default_factory=dict)  # several tasks: every task's, by name
    previous_label_map: bool = False
    rejected: int = 0
    rejected_dirs: list[str] = field(default_factory=list)
    rejection_samples: list[Rejection] = field(default_factory=list)
    anomalies: Optional[list[str]] = None

    @property
    def span_numbers(self) -> list[int]:
        return [span.span for span in self.spans]


def split_names(artifact: metadata_store_pb2.Artifact) -> list[str]:
    """The artifact's `split_names` property (e.g. ["train", "eval"])."""
    value = artifact.properties.get("split_names")
    return json.loads(value.string_value) if value is not None and value.string_value else []


def _examples_per_split(store: mlmd.MetadataStore, examples: metadata_store_pb2.Artifact) -> dict[str, Optional[int]]:
    """Example counts from the StatisticsGen output computed on `examples` (None where there is none)."""
    statistics = derived_artifacts(store, examples.id, "ExampleStatistics")
    counts: dict[str, Optional[int]] = {}
    for split in split_names(examples):
        counts[split] = None
        path = os.path.join(statistics[-1].uri, f"Split-{split}", STATISTICS_FILE) if statistics else ""
        if path and fileio.exists(path):
            with fileio.open(path, "rb") as handle:
                datasets = statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read()).datasets
            counts[split] = sum(dataset.num_examples for dataset in datasets)
    return counts


def _rejection_samples(rejected_dir: str, limit: int) -> list[Rejection]:
    samples: list[Rejection] = []
    for path in sorted(fileio.glob(os.path.join(rejected_dir, "Split-*", "rejected-*.jsonl"))):
        with fileio.open(path, "r") as handle:
            for line in handle:
                if len(samples) == limit:
                    return samples
                if line.strip():
                    samples.append(Rejection.from_json(line))
    return samples


def _anomalies(anomalies: metadata_store_pb2.Artifact) -> list[str]:
    return [
        f"split '{split}': {line}"
        for split in split_names(anomalies)
        for line in describe_anomalies(load_split_anomalies(os.path.join(anomalies.uri, f"Split-{split}")))
    ]


def load_data(store: mlmd.MetadataStore, record: RunRecord) -> DataReport:
    """Collects the data side of `record`."""
    report = DataReport()
    for examples in used_examples(record):
        rejected = int_property(examples, REJECTED_COUNT_PROPERTY)
        report.spans.append(
            SpanData(
                span=span_of(examples),
                examples_per_split=_examples_per_split(store, examples),
                accepted=int_property(examples, ACCEPTED_COUNT_PROPERTY),
                rejected=rejected,
            )
        )
        if rejected:
            rejected_dir = os.path.join(examples.uri, REJECTED_DIR)
            report.rejected += rejected
            report.rejected_dirs.append(rejected_dir)
            report.rejection_samples += _rejection_samples(rejected_dir, REJECTION_SAMPLES - len(report.rejection_samples))
    label_prep = record.node("LabelPrep")
    label_map = label_prep.output("label_map") if label_prep else None
    report.label_map = load_label_map(label_map.uri) if label_map else None
    report.task_label_maps = saved_task_label_maps(label_map.uri) if label_map else {}
    report.previous_label_map = bool(label_prep and label_prep.inputs.get("previous_label_map"))
    validator = record.node("ExampleValidator")
    anomalies = validator.output("anomalies") if validator else None
    report.anomalies = _anomalies(anomalies) if anomalies else None
    return report
