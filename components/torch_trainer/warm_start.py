"""Warm start from the previous blessed PyTorch model, expanding the head when the label map gained classes.

Label ids never move, so the old logits rows map onto the first rows of the new
layer: old-class logits are unchanged before training, new classes start fresh.
"""
from __future__ import annotations

import torch

from components.hub_trainer.warm_start import WarmStartReport
from components.torch_trainer.export import load_state_dict
from components.torch_trainer.model import Classifier

_HEAD_OUTPUT = ("logits.weight", "logits.bias")


def warm_start(model: Classifier, base_model_dir: str) -> WarmStartReport:
    """Copies every same-named, same-shaped tensor of the exported model in `base_model_dir` into `model`."""
    base = load_state_dict(base_model_dir)
    report, state = WarmStartReport(), model.state_dict()
    with torch.no_grad():
        for name, target in state.items():
            source = base.get(name)
            if source is None:
                report.skipped.append(name)
            elif source.shape == target.shape:
                target.copy_(source)
                report.restored.append(name)
            elif name in _HEAD_OUTPUT and source.shape[1:] == target.shape[1:] and source.shape[0] < target.shape[0]:
                target[: source.shape[0]].copy_(source)
                report.expanded.append(name)
            else:
                report.skipped.append(name)
    return report
