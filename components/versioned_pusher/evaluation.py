"""Reads a TFMA `ModelEvaluation` artifact: the gate metric of the candidate and of its baseline."""

from __future__ import annotations

from typing import Optional

from retrain.components.versioned_pusher.metrics_records import load_local_metrics

ACCURACY_METRIC = "sparse_categorical_accuracy"  # TFMA name of the gate metric
BASELINE_MODEL_NAME = "baseline"


def overall_metrics(evaluation_uri: str) -> dict[tuple[str, bool], dict[str, float]]:
    """TFMA's scalar metrics on the overall slice: {(model name, is_diff): {metric name: value}}.

    A local directory is read without TensorFlow (metrics_records.py); a remote URI (`gs://...`) through TFMA.
    """
    if "://" in evaluation_uri:
        import tensorflow_model_analysis as tfma

        records = tfma.load_metrics(evaluation_uri)
    else:
        records = load_local_metrics(evaluation_uri)
    metrics: dict[tuple[str, bool], dict[str, float]] = {}
    for per_slice in records:
        if per_slice.slice_key.single_slice_keys:
            continue
        for entry in per_slice.metric_keys_and_values:
            if entry.value.HasField("double_value"):
                metrics.setdefault((entry.key.model_name, entry.key.is_diff), {})[entry.key.name] = entry.value.double_value.value
    return metrics


def gate_accuracies(evaluation_uri: str) -> tuple[Optional[float], Optional[float]]:
    """(candidate accuracy, baseline accuracy) on the overall slice; None where the evaluation has none."""
    candidate = baseline = None
    for (model_name, is_diff), values in overall_metrics(evaluation_uri).items():
        if is_diff or ACCURACY_METRIC not in values:
            continue
        if model_name == BASELINE_MODEL_NAME:
            baseline = values[ACCURACY_METRIC]
        else:
            candidate = values[ACCURACY_METRIC]
    return candidate, baseline
