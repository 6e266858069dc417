"""Both frameworks truncate a long text at the same length: the one the converted TF module records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the module's tokenizer)
import torch

from retrain.components.hub_text.checkpoint import checkpoint_max_seq_length, read_checkpoint
from retrain.components.hub_text.metadata import METADATA_FILE, recorded_max_seq_length
from retrain.components.text_example.prepare import MAX_SEQ_LENGTH, TextExampleLayout, minilm_checkpoint_dir
from retrain.components.torch_trainer.model import TextEncoder, build_classifier, load_backbone
from retrain.pipelines.builtin_example import example_files, point_at_example
from retrain.pipelines.config import load_config
from retrain.pipelines.trainer_settings import trainer_settings_for

TEXT_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "text.yaml"
# About 190 word pieces: longer than the module's 64 and the old PyTorch default of 128, shorter than MiniLM's 256.
LONG_TEXT = " ".join(["my invoice was charged twice and the refund for the broken charger never arrived"] * 12)


def test_pytorch_trainer_sees_the_tokens_the_tf_module_sees(text_example: TextExampleLayout) -> None:
    config = load_config(TEXT_CONFIG).model_copy(update={"trainer": "both"})
    settings = trainer_settings_for(point_at_example(config, example_files("text", text_example.root)))
    classifier = build_classifier(settings, num_classes=4, example=["hello"])

    tokens = classifier.backbone.tokenize([LONG_TEXT, "short"])
    outputs = tf.saved_model.load(str(text_example.backbone_dir)).signatures["serving_default"](tf.constant([LONG_TEXT, "short"]))
    assert recorded_max_seq_length(str(text_example.backbone_dir)) == MAX_SEQ_LENGTH
    assert tokens["attention_mask"].sum(dim=1).tolist() == outputs["input_mask"].numpy().sum(axis=1).tolist() == [MAX_SEQ_LENGTH, 3]
    np.testing.assert_array_equal(tokens["input_ids"].numpy(), outputs["input_word_ids"].numpy())
    with torch.no_grad():
        torch_pooled = classifier.backbone.eval()([LONG_TEXT]).numpy()
    assert np.abs(torch_pooled - outputs["pooled_output"].numpy()[:1]).max() < 1e-4


def test_saved_tokenizer_truncates_like_the_trainer(tmp_path: Path, text_example: TextExampleLayout) -> None:
    from transformers import AutoTokenizer

    encoder = load_backbone(str(minilm_checkpoint_dir()), "text_classification", str(text_example.backbone_dir))
    encoder.tokenizer.save_pretrained(tmp_path / "tokenizer")  # what the exported model and TorchEvaluator use
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tokenizer", local_files_only=True)
    assert reloaded([LONG_TEXT], truncation=True, return_tensors="pt")["input_ids"].shape == (1, MAX_SEQ_LENGTH)


def test_without_a_converted_module_the_checkpoint_length_applies(tmp_path: Path) -> None:
    checkpoint = minilm_checkpoint_dir()
    expected = json.loads((checkpoint / "sentence_bert_config.json").read_text())["max_seq_length"]
    assert checkpoint_max_seq_length(checkpoint) == read_checkpoint(checkpoint).default_max_seq_length == expected == 256
    for handle in (None, "https://tfhub.dev/some/module/1", str(tmp_path)):
        encoder = load_backbone(str(checkpoint), "text_classification", handle)
        assert encoder.max_length == expected
        assert encoder.tokenize([LONG_TEXT])["input_ids"].shape[1] > 128  # not cut at the old fixed 128
    assert TextEncoder(str(checkpoint), max_length=32).tokenize([LONG_TEXT])["input_ids"].shape == (1, 32)


def test_unreadable_recorded_length_is_one_clear_error(tmp_path: Path) -> None:
    metadata = tmp_path / METADATA_FILE
    metadata.parent.mkdir(parents=True)
    metadata.write_text(json.dumps({"max_seq_length": "long"}))
    with pytest.raises(ValueError, match=r"hub_text\.json: max_seq_length must be a positive integer, got 'long'"):
        recorded_max_seq_length(str(tmp_path))
