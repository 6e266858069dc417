"""Warm start of the PyTorch classifier from the previous blessed model (rule: components/training_core/warm_start.py).

The classifier's classes are the first axis of its `logits` weight and bias.
"""

from __future__ import annotations

import torch

from retrain.components.torch_trainer.export import load_state_dict
from retrain.components.torch_trainer.model import Classifier
from retrain.components.training_core.warm_start import WarmStartReport, copy_matching

_HEAD_OUTPUT = ("logits.weight", "logits.bias")


def warm_start(model: Classifier, base_model_dir: str) -> WarmStartReport:
    """Copies every same-named, same-shaped tensor of the exported model in `base_model_dir` into `model`."""
    with torch.no_grad():
        return copy_matching(
            model.state_dict().items(),
            load_state_dict(base_model_dir),
            _HEAD_OUTPUT,
            class_axis=0,
            restore=lambda target, source: target.copy_(source),
            expand=lambda target, source: target[: source.shape[0]].copy_(source),
        )
