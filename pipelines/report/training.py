"""Per-epoch training curves, read from the TensorBoard logs a trainer writes into its ModelRun artifact."""

from __future__ import annotations

import os

import tensorflow as tf
from tfx.dsl.io import fileio

EPOCH_PREFIX = "epoch_"
NOT_CURVES = frozenset({"predicted_classes"})  # the TF divergence guard's per-epoch count, not a learning curve

# metric (e.g. `loss`, `accuracy`) -> log directory (`train`, `validation`) -> [(epoch, value)], epochs from 1
Curves = dict[str, dict[str, list[tuple[int, float]]]]


def _scalar(value: tf.compat.v1.Summary.Value) -> float:
    if value.HasField("tensor"):
        return float(tf.make_ndarray(value.tensor))
    return float(value.simple_value)


def load_curves(model_run_uri: str) -> Curves:
    """Keras' `epoch_*` scalars of every log directory under `model_run_uri` (empty when there are none)."""
    curves: Curves = {}
    if not fileio.isdir(model_run_uri):
        return curves
    for subset in sorted(fileio.listdir(model_run_uri)):
        per_epoch: dict[str, dict[int, float]] = {}
        for path in sorted(fileio.glob(os.path.join(model_run_uri, subset, "events.out.tfevents.*"))):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.tag.startswith(EPOCH_PREFIX) and value.tag[len(EPOCH_PREFIX) :] not in NOT_CURVES:
                        per_epoch.setdefault(value.tag[len(EPOCH_PREFIX) :], {})[event.step + 1] = _scalar(value)
        for metric, values in per_epoch.items():
            curves.setdefault(metric, {})[subset.rstrip("/")] = sorted(values.items())
    return curves
