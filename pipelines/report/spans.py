"""Which spans a run used, read from ML Metadata alone (no TensorFlow: `retrain history` shows them)."""

from __future__ import annotations

from typing import Optional

from ml_metadata.proto import metadata_store_pb2

from retrain.pipelines.report.runs import RunRecord


def format_spans(spans: list[int]) -> str:
    """`0`, `3, 5` or `3-7` for a contiguous window; `none` when empty."""
    if not spans:
        return "none"
    if len(spans) > 2 and spans == list(range(spans[0], spans[-1] + 1)):
        return f"{spans[0]}-{spans[-1]}"
    return ", ".join(str(span) for span in spans)


def int_property(artifact: metadata_store_pb2.Artifact, name: str) -> Optional[int]:
    """An integer custom property of `artifact` (None if absent)."""
    value = artifact.custom_properties.get(name)
    return value.int_value if value is not None else None


def span_of(examples: metadata_store_pb2.Artifact) -> int:
    """The span an Examples artifact holds (0 without spans)."""
    return int_property(examples, "span") or 0


def used_examples(record: RunRecord) -> list[metadata_store_pb2.Artifact]:
    """The Examples the run prepared labels from (every span of a rolling window), else what ExampleGen produced."""
    label_prep = record.node("LabelPrep")
    if label_prep is not None and label_prep.inputs.get("examples"):
        examples = label_prep.inputs["examples"]
    else:
        examples = [artifact for node in record.nodes_with_output("Examples")[:1] for artifact in node.outputs["examples"]]
    return sorted(examples, key=lambda artifact: (span_of(artifact), artifact.id))
