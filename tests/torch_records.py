"""Test data helper: transformed-looking TFRecords of two separable image classes, a tiny TorchScript-able CNN backbone and a tiny BERT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from retrain.components.training_core.features import LABEL_ID, MODEL_INPUT


class TinyCNN(torch.nn.Module):
    """Two conv -> BatchNorm -> ReLU blocks (named like the digits backbone), averaged to 16 features."""

    def __init__(self) -> None:
        super().__init__()
        self.block1_conv, self.block1_bn = torch.nn.Conv2d(1, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8)
        self.block2_conv, self.block2_bn = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.block1_bn(self.block1_conv(images)))
        return torch.relu(self.block2_bn(self.block2_conv(x))).mean(dim=(2, 3))


def feature_spec() -> dict[str, Any]:
    """The transformed feature spec of these records (8x8x1 `model_input`, `label_id`)."""
    import tensorflow as tf

    return {MODEL_INPUT: tf.io.FixedLenFeature([8, 8, 1], tf.float32), LABEL_ID: tf.io.FixedLenFeature([], tf.int64)}


def write_records(path: Path, count: int, seed: int) -> None:
    """Transformed examples of two trivially separable classes: dark images (0) and bright ones (1), each unique."""
    import tensorflow as tf

    rng = np.random.RandomState(seed)
    labels = rng.permutation(np.arange(count) % 2)  # shuffled: striding records over ranks must not split by class
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for label in labels:
            image = np.clip(rng.uniform(0.0, 0.3, (8, 8, 1)) + 0.6 * label, 0.0, 1.0).astype(np.float32)
            features = {
                MODEL_INPUT: tf.train.Feature(float_list=tf.train.FloatList(value=image.reshape(-1))),
                LABEL_ID: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def save_backbone(path: Path, seed: int = 0) -> None:
    """A TinyCNN as the TorchScript file `backbone.torch_checkpoint` names."""
    torch.manual_seed(seed)
    torch.jit.save(torch.jit.script(TinyCNN()), str(path))


def save_tiny_bert(directory: Path) -> None:
    """A 2-layer BERT with a 19-token vocabulary, saved as a Hugging Face model directory."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = "good bad great awful fine terrible nice poor movie film the a is was".split()
    (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]))
    BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(str(directory))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, max_position_embeddings=32
    )
    BertModel(config).save_pretrained(str(directory))
