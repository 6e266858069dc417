"""Exports a BERT-family checkpoint as a TF2 SavedModel in TF Hub format that takes raw strings.

The module:
- `__call__(texts, training=False)` ([N] strings -> pooled embedding [N, H]) is what
  `hub.KerasLayer(handle)` calls, so the Hub trainer uses it unchanged;
- the `serving_default` signature returns `pooled_output`, `sequence_output`
  [N, L, H], `input_word_ids` and `input_mask` [N, L] (L = longest sequence of the
  batch, at most `max_seq_length`); `hub.KerasLayer(handle, signature="serving_default",
  signature_outputs_as_dict=True)` gives all four;
- `assets.extra/hub_text.json` records the source checkpoint and the settings.
Written to a staging directory and renamed into place (`prepare_in_staging`), so it is never half-written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import tensorflow as tf

from retrain.components.example_data.prepared_dir import prepare_in_staging
from retrain.components.hub_text.checkpoint import ConversionError, TextCheckpoint, read_checkpoint
from retrain.components.hub_text.encoder import POOLED_OUTPUT, build_text_encoder
from retrain.components.hub_text.metadata import METADATA_FILE
from retrain.components.hub_text.weights import load_weights
from retrain.components.training_core.progress import step_progress


def build_converted_encoder(checkpoint: TextCheckpoint, max_seq_length: int, pretrained: bool = True, seed: int = 0) -> tf.keras.Model:
    """The encoder with the checkpoint's weights (or seeded random ones): a dict-output tf_keras model."""
    encoder = build_text_encoder(checkpoint, max_seq_length, seed)
    if pretrained:
        load_weights(encoder, checkpoint.weights_file, checkpoint.encoder.num_layers)
    return encoder


def _metadata(checkpoint: TextCheckpoint, max_seq_length: int, pretrained: bool) -> dict[str, object]:
    return {
        "source_checkpoint": str(checkpoint.directory.resolve()),
        "pretrained": pretrained,
        "max_seq_length": max_seq_length,
        "pooling": checkpoint.pooling.mode,
        "normalize": checkpoint.pooling.normalize,
        "lower_case": checkpoint.tokenizer.lower_case,
        "strip_accents": checkpoint.tokenizer.strip_accents,
        "hidden_size": checkpoint.encoder.hidden_size,
        "num_layers": checkpoint.encoder.num_layers,
        "variable_prefix_of_layer_i": "layer_{i}/",
    }


class _HubTextModule(tf.train.Checkpoint):
    """The reusable-SavedModel interface `hub.KerasLayer` reads: `__call__`, variables, regularization losses.

    A tracking object whose `variables`/`trainable_variables` can be assigned
    (on a tf.Module they are read-only properties).
    """

    def __init__(self, encoder: tf.keras.Model) -> None:
        super().__init__()
        # Not tracked as a Keras model: saving then skips Keras' per-layer traces (much faster).
        object.__setattr__(self, "encoder", encoder)
        self.tokenizer = encoder.get_layer("tokenizer").wordpiece
        self.variables = list(encoder.variables)
        self.trainable_variables = list(encoder.trainable_variables)
        self.regularization_losses: list = []

    @tf.function
    def __call__(self, texts: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.encoder(texts, training=training)[POOLED_OUTPUT]


def save_hub_module(encoder: tf.keras.Model, directory: Path) -> None:
    """Saves `encoder` (from `build_converted_encoder`) as a Hub module: pooled output by default, every output in `serving_default`."""
    module = _HubTextModule(encoder)
    texts = tf.TensorSpec([None], tf.string, name="text")
    for training in (False, True):
        module.__call__.get_concrete_function(texts, training=training)

    @tf.function(input_signature=[texts])
    def encode(values: tf.Tensor) -> dict[str, tf.Tensor]:
        return encoder(values, training=False)

    tf.saved_model.save(module, str(directory), signatures={"serving_default": encode.get_concrete_function()})


def export_hub_text_module(
    checkpoint_dir: Path,
    output_dir: Path,
    max_seq_length: Optional[int] = None,
    pretrained: bool = True,
    seed: int = 0,
    progress: Optional[Callable[[str], None]] = None,
) -> Path:
    """Converts the checkpoint in `checkpoint_dir` into a Hub module at `output_dir` (which must not exist or be empty).

    `max_seq_length` defaults to the checkpoint's (sentence-transformers' max_seq_length,
    else max_position_embeddings). `pretrained=False` keeps seeded random weights: the same
    architecture from scratch, for comparisons. `progress` receives one line per step.
    Raises ConversionError with one line.
    """
    report = progress or (lambda message: None)
    report(f"  reading the checkpoint in {checkpoint_dir}")
    checkpoint = read_checkpoint(Path(checkpoint_dir))
    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise ConversionError(f"output directory exists and is not empty: {output_dir}")
    length = checkpoint.default_max_seq_length if max_seq_length is None else max_seq_length
    report(f"  building the encoder ({checkpoint.encoder.num_layers} layers, max length {length}) and loading its weights")
    with step_progress(f"export-hub-text: building the encoder from {checkpoint_dir}"):
        encoder = build_converted_encoder(checkpoint, length, pretrained, seed)

    def write(staging: Path) -> None:
        report("  saving the TF Hub module (tracing the tokenizer and encoder)")
        save_hub_module(encoder, staging)
        metadata = staging / METADATA_FILE
        metadata.parent.mkdir(parents=True, exist_ok=True)
        metadata.write_text(json.dumps(_metadata(checkpoint, length, pretrained), indent=2) + "\n")

    with step_progress(f"export-hub-text: tracing and saving the Hub module to {output_dir}"):
        prepare_in_staging(output_dir, write)
    return output_dir
