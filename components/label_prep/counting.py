"""Beam transform counting labels per split, straight from the serialized tf.Examples."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf

from retrain.components.label_prep.label_map import SplitCounts

EMPTY_LABEL = ""


def label_key(serialized: bytes, label_feature: str, input_feature: str) -> tuple[str, bool]:
    """(stripped label or "" when missing/blank, whether the input feature has a value) of one record."""
    features = tf.train.Example.FromString(serialized).features.feature
    label = EMPTY_LABEL
    if label_feature in features:
        values = features[label_feature].bytes_list.value or [str(v).encode() for v in features[label_feature].int64_list.value]
        label = values[0].decode("utf-8").strip() if values else EMPTY_LABEL
    has_input = False
    if input_feature in features:
        value = features[input_feature]
        has_input = bool(value.bytes_list.value or value.int64_list.value or value.float_list.value)
        if value.bytes_list.value:
            has_input = any(item.strip() for item in value.bytes_list.value)
    return label, has_input


def task_label_keys(serialized: bytes, label_features: Sequence[str], input_feature: str) -> list[tuple[str, str, bool]]:
    """(task, stripped label or "", whether the input has a value) of one record, for each task's label column."""
    return [(task, *label_key(serialized, task, input_feature)) for task in label_features]


def task_split_counts(records: Iterable[tuple[tuple[str, str, str, bool], int]], tasks: Sequence[str]) -> dict[str, dict[str, SplitCounts]]:
    """Folds ((split, task, label, has_input), count) pairs into per-split counts of each task, in `tasks` order."""
    per_task: dict[str, list[tuple[tuple[str, str, bool], int]]] = {task: [] for task in tasks}
    for (split, task, label, has_input), count in records:
        per_task[task].append(((split, label, has_input), count))
    return {task: split_counts(task_records) for task, task_records in per_task.items()}


def split_counts(records: Iterable[tuple[tuple[str, str, bool], int]]) -> dict[str, SplitCounts]:
    """Folds ((split, label, has_input), count) pairs into per-split counts."""
    per_label: dict[str, dict[str, int]] = {}
    empty: dict[str, int] = {}
    missing: dict[str, int] = {}
    for (split, label, has_input), count in records:
        per_label.setdefault(split, {})
        if label == EMPTY_LABEL:
            empty[split] = empty.get(split, 0) + count
        elif not has_input:
            missing[split] = missing.get(split, 0) + count
        else:
            per_label[split][label] = per_label[split].get(label, 0) + count
    return {
        split: SplitCounts(per_label=labels, empty_label=empty.get(split, 0), missing_input=missing.get(split, 0))
        for split, labels in per_label.items()
    }


def _counted_keys(
    pipeline: beam.Pipeline, file_patterns: Mapping[str, list[str]], keys_of: Callable[[bytes, str], Iterable[tuple]]
) -> beam.PCollection:
    """PCollection of (key, count) over every split's TFRecord files, `keys_of(record, split)` giving each record's keys."""
    per_split = []
    for split, patterns in sorted(file_patterns.items()):
        per_split.append(
            pipeline
            | f"Patterns[{split}]" >> beam.Create(patterns)
            | f"Read[{split}]" >> beam.io.ReadAllFromTFRecord()
            | f"Key[{split}]" >> beam.FlatMap(keys_of, split)
        )
    return per_split | "Flatten" >> beam.Flatten() | "Count" >> beam.combiners.Count.PerElement()


@beam.ptransform_fn
def CountLabels(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, file_patterns: Mapping[str, list[str]], label_feature: str, input_feature: str
) -> beam.PCollection:
    """PCollection of ((split, label, has_input), count) over every split's TFRecord files."""
    return _counted_keys(pipeline, file_patterns, lambda record, split: [(split, *label_key(record, label_feature, input_feature))])


@beam.ptransform_fn
def CountTaskLabels(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, file_patterns: Mapping[str, list[str]], label_features: Sequence[str], input_feature: str
) -> beam.PCollection:
    """PCollection of ((split, task, label, has_input), count) over every split's TFRecord files, for each task's label column."""
    return _counted_keys(
        pipeline, file_patterns, lambda record, split: [(split, *key) for key in task_label_keys(record, label_features, input_feature)]
    )
