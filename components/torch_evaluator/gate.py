"""The evaluation gate on written predictions: TFMA metrics, TFMA threshold checks, TFMA-format outputs.

TFMA 0.47's model-agnostic `run_model_analysis` drops a baseline (and refuses
change thresholds) when it is not given model objects. So the metrics of every
model are computed by one model-agnostic TFMA run over the prediction records
(the models are peers there), and then the pipeline's own EvalConfig (value
threshold + change threshold vs. the baseline) is applied by TFMA's
`metrics_validator` to those metrics plus their differences. The output
directory reads like a TFX Evaluator's: metrics (with `is_diff` entries), plots,
`validations.tfrecord` and `eval_config.json` holding the gate.

With several tasks the gate's model spec has `label_keys` {task: `label_id__<task>`} and one
MetricsSpec per task (`output_names=[task]`, its own thresholds). Each model here then gets
`prediction_keys` {task: `<its prediction key>__<task>`}: TFMA 0.47's model-agnostic
extractors (`LabelsExtractor`, `MaterializedPredictionsExtractor`, both through
`model_util.get_feature_values_for_model_spec_field`) read such maps into {task: values}
per model, and a metric of output name `task` takes that entry, so every task's metrics
come out under output name = task, as the TF Evaluator's do.
"""

from __future__ import annotations

import os
from typing import Mapping

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.proto import metrics_for_slice_pb2
from tensorflow_model_analysis.writers import eval_config_writer

from retrain.components.compat.tfma_private import serialize_eval_run
from retrain.components.training_core.tasks import task_feature

BASELINE = "baseline"
CANDIDATE = "candidate"


def gated_labels(gate: tfma.EvalConfig) -> dict[str, str]:
    """The label feature of each task the gate checks: {task: `label_id__<task>`} with several tasks, {"": label key} with one."""
    spec = gate.model_specs[0]
    return dict(spec.label_keys) if spec.label_keys else {"": spec.label_key}


def _with_models(gate: tfma.EvalConfig, keys: Mapping[str, str], mark_baseline: bool) -> tfma.EvalConfig:
    """A copy of `gate` with one model spec (the gate's label key, or keys per task) per model name -> prediction key."""
    config = tfma.EvalConfig()
    config.CopyFrom(gate)
    labels = gated_labels(gate)
    del config.model_specs[:]
    for name, prediction_key in keys.items():
        spec = config.model_specs.add(name=name, is_baseline=mark_baseline and name == BASELINE)
        if "" in labels:
            spec.label_key, spec.prediction_key = labels[""], prediction_key
        else:
            spec.label_keys.update(labels)
            spec.prediction_keys.update({task: task_feature(prediction_key, task) for task in labels})
    return config


def agnostic_config(gate: tfma.EvalConfig, keys: Mapping[str, str]) -> tfma.EvalConfig:
    """The gate's metrics, computed model-agnostically for each model name -> prediction key, without thresholds."""
    config = _with_models(gate, keys, mark_baseline=False)
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            metric.ClearField("threshold")
        spec.ClearField("thresholds")
    return config


def gate_config(gate: tfma.EvalConfig, keys: Mapping[str, str]) -> tfma.EvalConfig:
    """The gate as the metrics validator applies it: with a baseline spec, or without change thresholds (first model)."""
    config = _with_models(gate, keys, mark_baseline=True)
    for spec in config.metrics_specs:
        spec.model_names[:] = list(keys)
    if BASELINE not in keys:
        for spec in config.metrics_specs:
            for metric in spec.metrics:
                metric.threshold.ClearField("change_threshold")
    return config


def _overall_slice(records: list[metrics_for_slice_pb2.MetricsForSlice]) -> metrics_for_slice_pb2.MetricsForSlice:
    return next(record for record in records if not record.slice_key.single_slice_keys)


def _add_diffs(overall: metrics_for_slice_pb2.MetricsForSlice) -> dict[metric_types.MetricKey, float]:
    """Adds candidate - baseline entries (`is_diff`) for every scalar metric; returns all scalar metrics by key."""
    values = {
        metric_types.MetricKey.from_proto(entry.key): entry.value.double_value.value
        for entry in overall.metric_keys_and_values
        if entry.value.HasField("double_value")
    }
    for key, value in list(values.items()):
        if key.model_name != CANDIDATE:
            continue
        baseline_key = key.make_baseline_key(BASELINE)
        if baseline_key in values:
            diff_key = key.make_diff_key()
            values[diff_key] = value - values[baseline_key]
            entry = overall.metric_keys_and_values.add()
            entry.key.CopyFrom(diff_key.to_proto())
            entry.value.double_value.value = values[diff_key]
    return values


def _rewrite_metrics(output_dir: str) -> dict[metric_types.MetricKey, float]:
    paths = tf.io.gfile.glob(os.path.join(output_dir, "metrics*"))
    if len(paths) != 1:
        raise ValueError(f"expected one TFMA metrics file in {output_dir}, found {paths}")
    records = [metrics_for_slice_pb2.MetricsForSlice.FromString(raw.numpy()) for raw in tf.data.TFRecordDataset(paths)]
    values = _add_diffs(_overall_slice(records))
    with tf.io.TFRecordWriter(paths[0]) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return values


def evaluate_predictions(predictions: str, gate: tfma.EvalConfig, keys: Mapping[str, str], output_dir: str) -> tfma.ValidationResult:
    """Runs TFMA on the prediction records into `output_dir` and applies the gate; returns the validation result."""
    tfma.run_model_analysis(eval_config=agnostic_config(gate, keys), data_location=predictions, file_format="tfrecords", output_path=output_dir)
    values = _rewrite_metrics(output_dir)
    config = gate_config(gate, keys)
    result = metrics_validator.validate_metrics(((), values), config)
    with tf.io.TFRecordWriter(os.path.join(output_dir, "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())
    config_path = os.path.join(output_dir, f"{eval_config_writer.EVAL_CONFIG_FILE}.{eval_config_writer.EVAL_CONFIG_FILE_FORMAT}")
    with tf.io.gfile.GFile(config_path, "w") as handle:
        handle.write(serialize_eval_run(config, predictions, "tfrecords", {}))  # TFMA's own format
    return result
