"""Loads a checkpoint's safetensors weights into the tf_keras encoder (PyTorch Linear weights are transposed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from safetensors import safe_open

from retrain.components.hub_text.checkpoint import ConversionError
from retrain.components.hub_text.encoder import LayerNorm

_PREFIXES = ("bert.", "model.")


def _layer_sources(index: int) -> dict[str, str]:
    """Encoder layer attribute -> HF module name (each a Linear or LayerNorm)."""
    prefix = f"encoder.layer.{index}."
    return {
        "query": prefix + "attention.self.query",
        "key": prefix + "attention.self.key",
        "value": prefix + "attention.self.value",
        "attention_output": prefix + "attention.output.dense",
        "attention_layer_norm": prefix + "attention.output.LayerNorm",
        "intermediate": prefix + "intermediate.dense",
        "output_dense": prefix + "output.dense",
        "output_layer_norm": prefix + "output.LayerNorm",
    }


def weight_assignments(encoder: tf.keras.Model, num_layers: int) -> list[tuple[tf.Variable, str, bool]]:
    """(variable, checkpoint tensor name, transpose?) for every encoder variable."""
    embeddings = encoder.get_layer("embeddings")
    pairs = [
        (embeddings.word_embeddings, "embeddings.word_embeddings.weight", False),
        (embeddings.position_embeddings, "embeddings.position_embeddings.weight", False),
        (embeddings.token_type_embeddings, "embeddings.token_type_embeddings.weight", False),
        (embeddings.layer_norm.gamma, "embeddings.LayerNorm.weight", False),
        (embeddings.layer_norm.beta, "embeddings.LayerNorm.bias", False),
    ]
    for index in range(num_layers):
        layer = encoder.get_layer(f"layer_{index}")
        for attribute, source in _layer_sources(index).items():
            module = getattr(layer, attribute)
            if isinstance(module, LayerNorm):
                pairs += [(module.gamma, source + ".weight", False), (module.beta, source + ".bias", False)]
            else:
                pairs += [(module.kernel, source + ".weight", True), (module.bias, source + ".bias", False)]
    return pairs


def load_weights(encoder: tf.keras.Model, weights_file: Path, num_layers: int) -> None:
    """Assigns every encoder variable from `weights_file`; raises ConversionError on a missing or mis-shaped tensor."""
    with safe_open(str(weights_file), framework="np") as tensors:
        names = set(tensors.keys())
        prefix = next((candidate for candidate in _PREFIXES if f"{candidate}embeddings.word_embeddings.weight" in names), "")
        for variable, name, transpose in weight_assignments(encoder, num_layers):
            if prefix + name not in names:
                raise ConversionError(f"{weights_file}: missing tensor {prefix + name}")
            try:
                value = tensors.get_tensor(prefix + name)
            except TypeError as error:  # e.g. bfloat16, which numpy cannot hold
                raise ConversionError(f"{weights_file}: tensor {prefix + name} has an unsupported dtype ({error})") from None
            value = np.asarray(value, dtype=np.float32)
            value = value.T if transpose else value
            if tuple(value.shape) != tuple(variable.shape):
                raise ConversionError(f"{weights_file}: tensor {prefix + name} has shape {value.shape}, expected {tuple(variable.shape)}")
            variable.assign(value)
