"""Warm start of the PyTorch classifier from the previous blessed model (rule: components/training_core/warm_start.py).

The classifier's classes are the first axis of its `logits` weight and bias (each task's
`heads.<task>.logits`, with several heads). A head of a task the base model did not have
(or a multi-task model warm started from a one-head model) starts fresh; the backbone is restored.
"""

from __future__ import annotations

import torch

from retrain.components.torch_trainer.export import load_state_dict
from retrain.components.torch_trainer.model import MultiTaskClassifier, TransferModel
from retrain.components.training_core.warm_start import WarmStartReport, copy_matching

_HEAD_OUTPUT = ("logits.weight", "logits.bias")


def _head_outputs(model: TransferModel) -> tuple[str, ...]:
    """The classifier weight and bias names of `model`: one head's, or every task's."""
    if not isinstance(model, MultiTaskClassifier):
        return _HEAD_OUTPUT
    return tuple(f"heads.{task}.{name}" for task in model.heads for name in _HEAD_OUTPUT)


def warm_start(model: TransferModel, base_model_dir: str) -> WarmStartReport:
    """Copies every same-named, same-shaped tensor of the exported model in `base_model_dir` into `model`;
    a task's classifier may have gained classes (its leading rows are copied)."""
    with torch.no_grad():
        return copy_matching(
            model.state_dict().items(),
            load_state_dict(base_model_dir),
            _head_outputs(model),
            class_axis=0,
            restore=lambda target, source: target.copy_(source),
            expand=lambda target, source: target[: source.shape[0]].copy_(source),
        )
