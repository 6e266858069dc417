"""BERT checkpoint -> TF Hub text module: conversion of the installed MiniLM, numerical parity with PyTorch, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401  (registers the ops the module's tokenizer uses)

from retrain.components.hub_text.checkpoint import ConversionError, PoolingSpec, read_checkpoint
from retrain.components.hub_text.encoder import Pooling
from retrain.components.hub_text.export import METADATA_FILE
from retrain.components.text_example.prepare import MAX_SEQ_LENGTH, TextExampleLayout, minilm_checkpoint_dir
from retrain.components.training_core.blocks import DEFAULT_BLOCK_PATTERN, backbone_blocks
from retrain.pipelines.cli import main

SENTENCES = [
    "The package arrived two days late.",
    "Crème brûlée à la façon de Noël — déjà vu? ÅNGSTRÖM naïve café",
    "",
    "e-mail me at a.b@example.com (ticket #42) [urgent]; 3.14% off!!! <ok>",
    "  tabs\tand\nnewlines\u00a0and a non-breaking space  ",
    "中文字符 mixed with English",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["a very long message that keeps going"] * 30),  # truncates at max_seq_length
]


@pytest.fixture(scope="module")
def hf_reference():
    """The Hugging Face tokenizer and PyTorch model of the same checkpoint (local files only)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    checkpoint = str(minilm_checkpoint_dir())
    return AutoTokenizer.from_pretrained(checkpoint, local_files_only=True), AutoModel.from_pretrained(checkpoint, local_files_only=True).eval()


def test_converted_minilm_is_a_hub_module_with_depth_ordered_layers(text_example: TextExampleLayout) -> None:
    layer = hub.KerasLayer(str(text_example.backbone_dir), trainable=True)
    pooled = layer(tf.constant(["hello", "world of text"])).numpy()
    assert pooled.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)  # modules.json says Normalize

    blocks = backbone_blocks(layer.trainable_weights, DEFAULT_BLOCK_PATTERN)
    assert [block.name for block in blocks] == ["stem"] + [f"block{index}" for index in range(6)]
    assert all(variable.name.startswith("embeddings/") for variable in blocks[0].variables)
    assert all(variable.name.startswith("layer_5/") for variable in blocks[-1].variables)
    assert len(blocks[-1].variables) == 16  # q, k, v, attention output, 2 layer norms, intermediate, output: kernels/biases

    metadata = json.loads((text_example.backbone_dir / METADATA_FILE).read_text())
    assert (metadata["max_seq_length"], metadata["pooling"], metadata["normalize"], metadata["pretrained"]) == (MAX_SEQ_LENGTH, "mean", True, True)
    assert metadata["source_checkpoint"] == str(minilm_checkpoint_dir())


def test_pooled_embeddings_and_token_ids_match_hugging_face(text_example: TextExampleLayout, hf_reference) -> None:
    import torch

    tokenizer, model = hf_reference
    encoded = tokenizer(SENTENCES, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1).numpy()

    module = tf.saved_model.load(str(text_example.backbone_dir))
    pooled = module(tf.constant(SENTENCES)).numpy()
    assert np.abs(pooled - expected).max() < 1e-4

    outputs = module.signatures["serving_default"](text=tf.constant(SENTENCES))
    np.testing.assert_array_equal(outputs["input_word_ids"].numpy(), encoded["input_ids"].numpy())
    np.testing.assert_array_equal(outputs["input_mask"].numpy(), encoded["attention_mask"].numpy())
    assert outputs["input_mask"].numpy()[-1].sum() == MAX_SEQ_LENGTH  # the long message was truncated
    sequence = outputs["sequence_output"].numpy()
    valid = encoded["attention_mask"].numpy().astype(bool)
    assert np.abs(sequence[valid] - hidden.numpy()[valid]).max() < 1e-4
    np.testing.assert_allclose(outputs["pooled_output"].numpy(), pooled, atol=1e-6)


def test_pytorch_trainer_text_backbone_starts_from_the_same_embeddings(text_example: TextExampleLayout) -> None:
    import torch

    from retrain.components.text_example.prepare import minilm_checkpoint_dir
    from retrain.components.torch_trainer.model import TextEncoder

    encoder = TextEncoder(str(minilm_checkpoint_dir()), max_length=MAX_SEQ_LENGTH).eval()
    with torch.no_grad():
        torch_pooled = encoder(SENTENCES).numpy()
    tf_pooled = tf.saved_model.load(str(text_example.backbone_dir))(tf.constant(SENTENCES)).numpy()
    assert np.abs(torch_pooled - tf_pooled).max() < 1e-4


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _edit_json(d / "config.json", model_type="roberta"), "model_type 'roberta' is unsupported"),
        (lambda d: _edit_json(d / "config.json", position_embedding_type="relative_key"), "position_embedding_type='relative_key' is unsupported"),
        (lambda d: _edit_json(d / "config.json", hidden_act="silu"), "hidden_act 'silu' is unsupported"),
        (
            lambda d: _edit_json(d / "tokenizer_config.json", tokenizer_class="XLMRobertaTokenizer"),
            "tokenizer_class 'XLMRobertaTokenizer' is unsupported",
        ),
        (
            lambda d: _edit_json(d / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False, pooling_mode_weightedmean_tokens=True),
            "pooling_mode_weightedmean_tokens is unsupported",
        ),
        (lambda d: (d / "model.safetensors").unlink(), "only safetensors weights are supported"),
    ],
)
def test_refuses_what_it_cannot_convert(tmp_path: Path, edit, message: str) -> None:
    checkpoint = _copy_checkpoint(tmp_path / "checkpoint")
    edit(checkpoint)
    with pytest.raises(ConversionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_checkpoint(checkpoint)


def test_cli_refuses_an_unsupported_checkpoint_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = _copy_checkpoint(tmp_path / "checkpoint")
    modules = json.loads((checkpoint / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (checkpoint / "modules.json").write_text(json.dumps(modules))

    assert main(["export-hub-text", str(checkpoint), str(tmp_path / "module")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("retrain: error: ") and "module sentence_transformers.models.Dense is unsupported" in error
    assert len(error.splitlines()) == 1
    assert not (tmp_path / "module").exists()


def test_cli_refuses_a_max_seq_length_the_checkpoint_cannot_take(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-hub-text", str(minilm_checkpoint_dir()), str(tmp_path / "module"), "--max-seq-length", "1000"]) == 2
    output = capsys.readouterr()
    assert output.err.strip() == "retrain: error: max_seq_length must be between 3 and 512, got 1000"
    assert output.out.startswith("[retrain]   reading the checkpoint in ")  # progress before the slow steps
    assert not (tmp_path / "module").exists()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("cls", [1.0, 2.0]), ("mean", [2.0, 3.0]), ("max", [3.0, 4.0]), ("mean_sqrt_len", [4.0 / np.sqrt(2), 6.0 / np.sqrt(2)])],
)
def test_pooling_modes_ignore_padding(mode: str, expected: list[float]) -> None:
    hidden = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = tf.constant([[1, 1, 0]])
    np.testing.assert_allclose(Pooling(PoolingSpec(mode, normalize=False))(hidden, mask).numpy(), [expected], rtol=1e-6)


def _copy_checkpoint(target: Path) -> Path:
    """The installed checkpoint's small files, with the weights linked rather than copied."""
    source = minilm_checkpoint_dir()
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors", "*.md", "data_config.json"))
    (target / "model.safetensors").symlink_to(source / "model.safetensors")
    return target


def _edit_json(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
