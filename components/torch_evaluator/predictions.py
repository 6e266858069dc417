"""Batch inference of an exported PyTorch model, written as tf.Examples for model-agnostic TFMA.

Each record holds the label id and one probability vector per evaluated model,
so TFMA computes every model's metrics from the same records with the same code
as for the TF model.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from retrain.components.torch_trainer.export import TOKENIZER_DIR, TORCHSCRIPT_FILE
from retrain.components.training_core.progress import ProgressLine


def predict_probabilities(model_dir: str, inputs: Any, batch_size: int = 256, what: str = "TorchEvaluator") -> np.ndarray:
    """[N, classes] probabilities of the exported TorchScript model in `model_dir` (images: NHWC floats; text: strings),
    with progress lines (`what`: examples done, rate, ETA) on long inputs."""
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
    return torch.cat(outputs).numpy()


def write_predictions(path: str, label_key: str, labels: Sequence[int], probabilities: Mapping[str, np.ndarray]) -> None:
    """One tf.Example per record: `label_key` (int64) plus a float list per prediction key."""
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for index, label in enumerate(labels):
            feature = {label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}
            for key, values in probabilities.items():
                feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values[index].tolist()))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def prediction_keys(has_baseline: bool) -> dict[str, str]:
    """TFMA model name -> prediction feature: `candidate`/`baseline` like TFX's Evaluator, or one unnamed model."""
    return {"candidate": "probabilities", "baseline": "baseline_probabilities"} if has_baseline else {"": "probabilities"}


def predictions_for(candidate_dir: str, baseline_dir: Optional[str], inputs: Any) -> dict[str, np.ndarray]:
    """Prediction feature -> probabilities of the candidate (and the baseline)."""
    keys = prediction_keys(baseline_dir is not None)
    result = {keys["candidate" if baseline_dir else ""]: predict_probabilities(candidate_dir, inputs, what="TorchEvaluator: candidate")}
    if baseline_dir is not None:
        result[keys["baseline"]] = predict_probabilities(baseline_dir, inputs, what="TorchEvaluator: baseline")
    return result
