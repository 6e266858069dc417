"""Whether the baseline model can be compared at all: it must answer every output the gate reads.

A run that adds a task (`task.labels`) after single-task runs has a deployed baseline that
answers only the old task; TFMA would fail on the missing signature or output. Such a
baseline is left out: the candidate is gated on the value thresholds alone, as the
TorchEvaluator does (components/torch_evaluator/predictions.py).
"""

from __future__ import annotations

import os

import tensorflow_model_analysis as tfma
from tensorflow.core.protobuf import saved_model_pb2
from tfx.dsl.io import fileio

SAVED_MODEL_FILE = "saved_model.pb"


def signature_outputs(model_dir: str) -> dict[str, set[str]]:
    """Each serving signature of the SavedModel in `model_dir` and its output names, read from `saved_model.pb` (no variables loaded)."""
    saved_model = saved_model_pb2.SavedModel()
    with fileio.open(os.path.join(model_dir, SAVED_MODEL_FILE), "rb") as handle:
        saved_model.ParseFromString(handle.read())
    return {name: set(signature.outputs) for meta_graph in saved_model.meta_graphs for name, signature in meta_graph.signature_def.items()}


def unanswered_tasks(model_dir: str, eval_config: tfma.EvalConfig) -> list[str]:
    """The tasks (TFMA output names) the gate reads that the model's gate signature does not output; [] when it answers them all.

    One task: the signature's `prediction_key` output; several: one output per task (TFMA looks predictions up by output name).
    """
    spec = eval_config.model_specs[0]
    wanted = sorted(spec.label_keys) or [spec.prediction_key]
    outputs = signature_outputs(model_dir).get(spec.signature_name or "serving_default")
    return wanted if outputs is None else [name for name in wanted if name not in outputs]
