"""The built-in digits backbone in PyTorch, with weights copied from its TF Hub module.

Same architecture as `components/digits_example/backbone.py` (three conv blocks
with BatchNorm, block 2 max-pooled, global average pooling to 128-d), same
parameter-name prefixes (`block1_conv`, `block1_bn`, ...) so blocks are found by
the same `block_pattern`. Input: NCHW float images in [0, 1].
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import torch
from torch import nn

FILTERS = (32, 64, 128)
KERAS_BN_EPSILON = 1e-3  # Keras' BatchNormalization default (PyTorch's is 1e-5)


class DigitsCNN(nn.Module):
    """conv3x3 -> BN -> ReLU per block (max-pool after block 2) -> global average pool."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        channels = in_channels
        for block, filters in enumerate(FILTERS, start=1):
            setattr(self, f"block{block}_conv", nn.Conv2d(channels, filters, 3, padding=1, bias=False))
            setattr(self, f"block{block}_bn", nn.BatchNorm2d(filters, eps=KERAS_BN_EPSILON, momentum=0.01))
            channels = filters
        self.embedding_size = FILTERS[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        x = torch.relu(self.block1_bn(self.block1_conv(x)))
        x = torch.relu(self.block2_bn(self.block2_conv(x)))
        x = nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.block3_bn(self.block3_conv(x)))
        return x.mean(dim=(2, 3))


_BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def state_dict_from_keras(variables: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Maps Keras variable values (`block1_conv/kernel`, `block1_bn/gamma`, ...) to DigitsCNN's state dict."""
    state: dict[str, torch.Tensor] = {}
    for name, value in variables.items():
        layer, variable = name.split(":")[0].split("/")[-2:]
        if layer.endswith("_conv") and variable == "kernel":  # [kh, kw, in, out] -> [out, in, kh, kw]
            state[f"{layer}.weight"] = torch.from_numpy(np.transpose(value, (3, 2, 0, 1)).copy())
        elif layer.endswith("_bn") and variable in _BN_NAMES:
            state[f"{layer}.{_BN_NAMES[variable]}"] = torch.from_numpy(np.asarray(value).copy())
        else:
            raise ValueError(f"unexpected variable {name!r} in the digits backbone")
    return state


def digits_cnn_from_hub_module(module_dir: str, in_channels: int = 1) -> DigitsCNN:
    """A DigitsCNN holding the weights of the TF Hub module (SavedModel) in `module_dir`."""
    import tensorflow as tf

    loaded = tf.saved_model.load(module_dir)
    variables = {variable.name: variable.numpy() for variable in loaded.variables}
    model = DigitsCNN(in_channels)
    missing, unexpected = model.load_state_dict(state_dict_from_keras(variables), strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{module_dir}: not the digits backbone (missing {missing}, unexpected {unexpected})")
    return model.eval()


def export_torch_backbone(module_dir: str, path: str) -> None:
    """Writes the Hub module in `module_dir` as a scripted TorchScript DigitsCNN file at `path` (atomically).

    Scripted, not traced, so BatchNorm still follows `train()`/`eval()` after loading.
    """
    staging = f"{path}.partial"
    torch.jit.save(torch.jit.script(digits_cnn_from_hub_module(module_dir)), staging)
    os.replace(staging, path)
