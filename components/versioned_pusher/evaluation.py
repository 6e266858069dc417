"""Reads a TFMA `ModelEvaluation` artifact: the gate metric of the candidate and of its baseline, per task."""

from __future__ import annotations

import json
import os
from typing import NamedTuple, Optional

from retrain.components.versioned_pusher.metrics_records import load_local_metrics

ACCURACY_METRIC = "sparse_categorical_accuracy"  # TFMA name of the gate metric
BASELINE_MODEL_NAME = "baseline"
EVAL_CONFIG_FILE = "eval_config.json"  # tensorflow_model_analysis/writers/eval_config_writer.py EVAL_CONFIG_FILE + ".json"
# Custom property both evaluators set on their ModelEvaluation when they left the resolved baseline out, saying why.
BASELINE_LEFT_OUT_PROPERTY = "baseline_left_out"


class MetricsKey(NamedTuple):
    """Which scalar metrics: the TFMA model name, output name (the task; "" with one task) and whether they are differences."""

    model_name: str
    output_name: str
    is_diff: bool


class GateAccuracy(NamedTuple):
    """One task's gate metric: the candidate's and the baseline's (None where the evaluation has none)."""

    candidate: Optional[float]
    baseline: Optional[float]


def _read_text(path: str) -> Optional[str]:
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.GFile(path).read() if tf.io.gfile.exists(path) else None
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def overall_metrics(evaluation_uri: str) -> dict[MetricsKey, dict[str, float]]:
    """TFMA's scalar metrics on the overall slice: {(model name, output name, is_diff): {metric name: value}}.

    A local directory is read without TensorFlow (metrics_records.py); a remote URI (`gs://...`) through TFMA.
    """
    if "://" in evaluation_uri:
        import tensorflow_model_analysis as tfma

        records = tfma.load_metrics(evaluation_uri)
    else:
        records = load_local_metrics(evaluation_uri)
    metrics: dict[MetricsKey, dict[str, float]] = {}
    for per_slice in records:
        if per_slice.slice_key.single_slice_keys:
            continue
        for entry in per_slice.metric_keys_and_values:
            if entry.value.HasField("double_value"):
                key = MetricsKey(entry.key.model_name, entry.key.output_name, entry.key.is_diff)
                metrics.setdefault(key, {})[entry.key.name] = entry.value.double_value.value
    return metrics


def gated_tasks(evaluation_uri: str) -> list[str]:
    """The tasks (TFMA output names) the evaluation's gate names, in its order (the main task first); [] for one unnamed output.

    Read from TFMA's `eval_config.json` (an EvalRun proto as JSON) without importing TFMA.
    """
    text = _read_text(os.path.join(evaluation_uri, EVAL_CONFIG_FILE))
    if text is None:
        return []
    specs = json.loads(text).get("evalConfig", {}).get("metricsSpecs", [])
    tasks: list[str] = []
    for spec in specs:
        tasks.extend(name for name in spec.get("outputNames", []) if name and name not in tasks)
    return tasks


def task_accuracies(evaluation_uri: str) -> dict[str, GateAccuracy]:
    """Each task's gate accuracy, candidate and baseline, in the gate's task order ("" names the one output of a single task)."""
    found: dict[str, dict[str, float]] = {}
    for key, values in overall_metrics(evaluation_uri).items():
        if not key.is_diff and ACCURACY_METRIC in values:
            role = "baseline" if key.model_name == BASELINE_MODEL_NAME else "candidate"
            found.setdefault(key.output_name, {})[role] = values[ACCURACY_METRIC]
    order = [task for task in gated_tasks(evaluation_uri) if task in found]
    order += sorted(task for task in found if task not in order)
    return {task: GateAccuracy(found[task].get("candidate"), found[task].get("baseline")) for task in order}
