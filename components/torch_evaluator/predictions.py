"""Batch inference of an exported PyTorch model, written as tf.Examples for model-agnostic TFMA.

Each record holds the label id and one probability vector per evaluated model,
so TFMA computes every model's metrics from the same records with the same code
as for the TF model. With several tasks a record holds each task's label id
(`label_id__<task>`) and, per model, each task's probabilities (`probabilities__<task>`,
`baseline_probabilities__<task>`).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from retrain.components.torch_trainer.export import SETTINGS_FILE, TOKENIZER_DIR, TORCHSCRIPT_FILE
from retrain.components.training_core.progress import ProgressLine
from retrain.components.training_core.tasks import task_feature


def _batch_outputs(model_dir: str, inputs: Any, batch_size: int, what: str) -> list[Any]:
    """The exported TorchScript model's output on each batch of `inputs`, with progress lines (`what`)."""
    model = torch.jit.load(os.path.join(model_dir, TORCHSCRIPT_FILE), map_location="cpu").eval()
    tokenizer_dir = os.path.join(model_dir, TOKENIZER_DIR)
    tokenizer = None
    if os.path.isdir(tokenizer_dir):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    outputs = []
    line = ProgressLine(what, len(inputs), "examples")
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start : start + batch_size]
            if tokenizer is None:
                outputs.append(model(batch.float()))
            else:
                tokens = tokenizer(list(batch), padding=True, truncation=True, return_tensors="pt")
                outputs.append(model(tokens["input_ids"], tokens["attention_mask"]))
            line.update(min(start + batch_size, len(inputs)))
    line.close()
    return outputs


def predict_probabilities(model_dir: str, inputs: Any, batch_size: int = 256, what: str = "TorchEvaluator") -> np.ndarray:
    """[N, classes] probabilities of the exported one-task TorchScript model in `model_dir` (images: NHWC floats; text: strings),
    with progress lines (`what`: examples done, rate, ETA) on long inputs."""
    return torch.cat(_batch_outputs(model_dir, inputs, batch_size, what)).numpy()


def predict_task_probabilities(model_dir: str, inputs: Any, batch_size: int = 256, what: str = "TorchEvaluator") -> dict[str, np.ndarray]:
    """{task: [N, classes] probabilities} of the exported model in `model_dir`: each task of a multi-task model,
    the label column it was trained on (its `settings.json`) for a one-task model."""
    outputs = _batch_outputs(model_dir, inputs, batch_size, what)
    if isinstance(outputs[0], dict):
        return {task: torch.cat([output[task] for output in outputs]).numpy() for task in outputs[0]}
    with open(os.path.join(model_dir, SETTINGS_FILE)) as handle:
        return {str(json.load(handle)["label_feature"]): torch.cat(outputs).numpy()}


def write_predictions(path: str, labels: Mapping[str, Sequence[int]], probabilities: Mapping[str, np.ndarray]) -> None:
    """One tf.Example per record: each label feature (int64) plus a float list per prediction feature."""
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for index in range(len(next(iter(labels.values())))):
            feature = {key: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(ids[index])])) for key, ids in labels.items()}
            for key, values in probabilities.items():
                feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values[index].tolist()))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def prediction_keys(has_baseline: bool) -> dict[str, str]:
    """TFMA model name -> prediction feature: `candidate`/`baseline` like TFX's Evaluator, or one unnamed model.

    With several tasks each task's probabilities are under `<prediction feature>__<task>`.
    """
    return {"candidate": "probabilities", "baseline": "baseline_probabilities"} if has_baseline else {"": "probabilities"}


def predictions_for(candidate_dir: str, baseline_dir: Optional[str], inputs: Any, tasks: Sequence[str] = ()) -> tuple[dict[str, np.ndarray], bool]:
    """Prediction feature -> probabilities of the candidate and the baseline, and whether the baseline is compared.

    One task (`tasks` empty): `probabilities` (`baseline_probabilities`); several `tasks` (the gate's, which the
    candidate must answer): `probabilities__<task>` for each. A baseline that does not answer every task of the candidate (an older model with fewer tasks, or
    trained on another label column) is left out: the candidate is then gated on its value thresholds alone.
    """
    candidate = predict_task_probabilities(candidate_dir, inputs, what="TorchEvaluator: candidate")
    if tasks and set(candidate) != set(tasks):
        raise ValueError(f"the candidate model answers tasks {sorted(candidate)}, but the gate checks {sorted(tasks)}")
    baseline = predict_task_probabilities(baseline_dir, inputs, what="TorchEvaluator: baseline") if baseline_dir else None
    if baseline is not None and not set(candidate) <= set(baseline):
        print(
            f"[retrain] TorchEvaluator: the baseline answers {sorted(baseline)}, not every task of the candidate {sorted(candidate)}: "
            "gating on the value thresholds alone",
            flush=True,
        )
        baseline = None
    keys = prediction_keys(baseline is not None)

    def features(key: str, probabilities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if tasks:
            return {task_feature(key, task): probabilities[task] for task in tasks}
        return {key: probabilities[next(iter(candidate))]}

    result = features(keys["candidate" if baseline is not None else ""], candidate)
    if baseline is not None:
        result.update(features(keys["baseline"], baseline))
    return result, baseline is not None
