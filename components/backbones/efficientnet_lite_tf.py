"""EfficientNet-Lite0 as a tf_keras model with the PyTorch model's weights, exported as a TF Hub module.

Same architecture as `efficientnet_lite.EfficientNetLite0`; Keras' `padding='same'` is
TF "SAME", which the weights were trained with. Layer names keep the block numbers
(`stem_conv`, `block3_dwconv`, ..., `block16_head_conv`), so the module's variables
(`block3_dwconv/depthwise_kernel:0`, ...) fall into the same blocks under the default
`block_pattern` as the PyTorch parameters. Input: NHWC floats in [0, 1] of any size,
preprocessed inside as (255x - 127) / 128; output: the pooled 1280-d embedding.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

from retrain.components.backbones import efficientnet_lite as arch


def _conv_bn(x: tf.Tensor, filters: int, kernel: int, stride: int, name: str, activation: bool, depthwise: bool = False) -> tf.Tensor:
    layers = tf.keras.layers
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
        bn_name = f"{name}_dw_bn"
    else:
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        bn_name = f"{name}_bn"
    x = layers.BatchNormalization(epsilon=arch.BN_EPSILON, momentum=1.0 - arch.BN_MOMENTUM, name=bn_name)(x)
    return layers.ReLU(6.0, name=f"{bn_name}_relu6")(x) if activation else x


def build_efficientnet_lite0_keras() -> tf.keras.Model:
    """The randomly initialised tf_keras EfficientNet-Lite0 backbone ([N, H, W, 3] in [0, 1] -> [N, 1280])."""
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=(None, None, 3), name="image")
    x = layers.Rescaling(255.0 / arch.PIXEL_SCALE, offset=-arch.PIXEL_MEAN / arch.PIXEL_SCALE, name="preprocess")(inputs)
    x = _conv_bn(x, arch.STEM_FILTERS, 3, 2, "stem", activation=True)
    for number, (kernel, stride, expand, filters_in, filters_out) in enumerate(arch.block_settings()):
        name = f"block{number}"
        block_input = x
        if expand != 1:
            x = _conv_bn(x, filters_in * expand, 1, 1, f"{name}_expand", activation=True)
        x = _conv_bn(x, 0, kernel, stride, name, activation=True, depthwise=True)
        x = _conv_bn(x, filters_out, 1, 1, f"{name}_project", activation=False)
        if stride == 1 and filters_in == filters_out:
            x = layers.Add(name=f"{name}_add")([x, block_input])
    x = _conv_bn(x, arch.HEAD_FILTERS, 1, 1, f"block{arch.HEAD_BLOCK}_head", activation=True)
    outputs = layers.GlobalAveragePooling2D(name="embedding")(x)
    return tf.keras.Model(inputs, outputs, name="efficientnet_lite0")


def keras_layer_name(torch_module: str) -> str:
    """The Keras layer holding a PyTorch module's weights (`block.3.dw_bn` -> `block3_dw_bn`)."""
    return re.sub(r"^block\.(\d+)\.", r"block\1_", torch_module).replace(".", "_")


def copy_torch_weights(model: tf.keras.Model, state: Mapping[str, "np.ndarray"]) -> None:
    """Sets every Keras weight from EfficientNetLite0's state dict (numpy arrays); refuses a missing or left-over tensor."""
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, variable = key.rsplit(".", 1)
        if variable != "num_batches_tracked":
            by_layer.setdefault(keras_layer_name(module), {})[variable] = np.asarray(value)
    for layer in model.layers:
        if not layer.weights:
            continue
        tensors = by_layer.pop(layer.name)
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.set_weights([tensors["weight"], tensors["bias"], tensors["running_mean"], tensors["running_var"]])
        elif isinstance(layer, tf.keras.layers.DepthwiseConv2D):  # [C, 1, kh, kw] -> [kh, kw, C, 1]
            layer.set_weights([np.transpose(tensors["weight"], (2, 3, 0, 1))])
        else:  # [out, in, kh, kw] -> [kh, kw, in, out]
            layer.set_weights([np.transpose(tensors["weight"], (2, 3, 1, 0))])
    if by_layer:
        raise ValueError(f"EfficientNet-Lite0 weights without a Keras layer: {sorted(by_layer)}")


def export_hub_module(model: tf.keras.Model, directory: Path) -> None:
    """Saves the backbone as a TF2 SavedModel loadable by `hub.KerasLayer` (trainable, `training` argument traced)."""
    tf.saved_model.save(model, str(directory))
