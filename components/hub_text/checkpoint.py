"""Reads and validates a local Hugging Face BERT-family checkpoint directory.

Expected files: `config.json` (model_type `bert`), `model.safetensors`, `vocab.txt`,
optionally `tokenizer_config.json`, and the sentence-transformers files
`modules.json` / `<pooling dir>/config.json` / `sentence_bert_config.json`. Anything
the converter cannot reproduce exactly is refused with one line naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
POOLING_MODES = ("cls", "mean", "max", "mean_sqrt_len")
_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}
_ST = "sentence_transformers.models."
_SUPPORTED_MODULES = (_ST + "Transformer", _ST + "Pooling", _ST + "Normalize")
_TOKENIZER_CLASSES = ("BertTokenizer", "BertTokenizerFast")
WEIGHTS_FILE = "model.safetensors"


class ConversionError(ValueError):
    """A checkpoint or request the converter cannot honour; the message is one line naming what."""


@dataclass(frozen=True)
class EncoderSpec:
    """Shape and options of the BERT encoder (from config.json)."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_dropout: float
    attention_dropout: float
    pad_token_id: int


@dataclass(frozen=True)
class TokenizerSpec:
    """WordPiece vocabulary and normalisation (from vocab.txt and tokenizer_config.json)."""

    vocab: tuple[str, ...]
    lower_case: bool
    strip_accents: bool
    cls_id: int
    sep_id: int
    unk_token: str


@dataclass(frozen=True)
class PoolingSpec:
    """How token vectors become one sentence vector, and whether it is L2-normalised."""

    mode: str
    normalize: bool


@dataclass(frozen=True)
class TextCheckpoint:
    """A validated checkpoint: what to build and where its weights are."""

    directory: Path
    encoder: EncoderSpec
    tokenizer: TokenizerSpec
    pooling: PoolingSpec
    default_max_seq_length: int

    @property
    def weights_file(self) -> Path:
        return self.directory / WEIGHTS_FILE


def _read_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConversionError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(content, (dict, list)):
        raise ConversionError(f"{path}: expected a JSON object")
    return content


def _encoder_spec(config: dict[str, Any], path: Path) -> EncoderSpec:
    model_type = config.get("model_type")
    if model_type != "bert":
        raise ConversionError(f"{path}: model_type {model_type!r} is unsupported (only BERT checkpoints, model_type 'bert')")
    unsupported = [
        ("position_embedding_type", config.get("position_embedding_type", "absolute"), "absolute"),
        ("is_decoder", bool(config.get("is_decoder", False)), False),
        ("add_cross_attention", bool(config.get("add_cross_attention", False)), False),
    ]
    for key, value, supported in unsupported:
        if value != supported:
            raise ConversionError(f"{path}: {key}={value!r} is unsupported (only {supported!r})")
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in ACTIVATIONS:
        raise ConversionError(f"{path}: hidden_act {hidden_act!r} is unsupported (supported: {', '.join(ACTIVATIONS)})")
    try:
        spec = EncoderSpec(
            vocab_size=int(config["vocab_size"]),
            hidden_size=int(config["hidden_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=int(config["num_attention_heads"]),
            intermediate_size=int(config["intermediate_size"]),
            hidden_act=hidden_act,
            max_position_embeddings=int(config.get("max_position_embeddings", 512)),
            type_vocab_size=int(config.get("type_vocab_size", 2)),
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            hidden_dropout=float(config.get("hidden_dropout_prob", 0.1)),
            attention_dropout=float(config.get("attention_probs_dropout_prob", 0.1)),
            pad_token_id=int(config.get("pad_token_id", 0)),
        )
    except KeyError as missing:
        raise ConversionError(f"{path}: missing {missing.args[0]!r}") from None
    if spec.hidden_size % spec.num_heads:
        raise ConversionError(f"{path}: hidden_size {spec.hidden_size} is not a multiple of num_attention_heads {spec.num_heads}")
    return spec


def _tokenizer_spec(directory: Path, sbert: dict[str, Any]) -> TokenizerSpec:
    config_path = directory / "tokenizer_config.json"
    config = _read_json(config_path) if config_path.is_file() else {}
    tokenizer_class = config.get("tokenizer_class", "BertTokenizer")
    if tokenizer_class not in _TOKENIZER_CLASSES:
        raise ConversionError(f"{config_path}: tokenizer_class {tokenizer_class!r} is unsupported (only WordPiece: {', '.join(_TOKENIZER_CLASSES)})")
    for key, supported in (("do_basic_tokenize", True), ("tokenize_chinese_chars", True)):
        if config.get(key, supported) != supported:
            raise ConversionError(f"{config_path}: {key}={config[key]!r} is unsupported (only {supported!r})")
    if config.get("never_split"):
        raise ConversionError(f"{config_path}: never_split is unsupported")
    vocab_path = directory / "vocab.txt"
    if not vocab_path.is_file():
        raise ConversionError(f"{directory}: no vocab.txt (only WordPiece vocabularies are supported)")
    vocab = tuple(line.rstrip("\n") for line in vocab_path.read_text(encoding="utf-8").splitlines(keepends=True))
    index = {token: position for position, token in enumerate(vocab)}
    special = {}
    for key, default in (("cls_token", "[CLS]"), ("sep_token", "[SEP]"), ("unk_token", "[UNK]")):
        token = config.get(key, default)
        token = token.get("content", default) if isinstance(token, dict) else token
        if token not in index:
            raise ConversionError(f"{vocab_path}: special token {token!r} ({key}) is not in the vocabulary")
        special[key] = token
    tokenizer_lowers = bool(config.get("do_lower_case", True))
    strip_accents = config.get("strip_accents")
    return TokenizerSpec(
        vocab=vocab,
        lower_case=tokenizer_lowers or bool(sbert.get("do_lower_case", False)),
        strip_accents=tokenizer_lowers if strip_accents is None else bool(strip_accents),
        cls_id=index[special["cls_token"]],
        sep_id=index[special["sep_token"]],
        unk_token=special["unk_token"],
    )


def _pooling_config(path: Path, hidden_size: int) -> str:
    config = _read_json(path)
    chosen = [key for key, value in config.items() if key.startswith("pooling_mode") and value]
    unsupported = [key for key in chosen if key not in _POOLING_KEYS]
    if unsupported:
        raise ConversionError(f"{path}: {unsupported[0]} is unsupported (supported: {', '.join(_POOLING_KEYS)})")
    if len(chosen) != 1:
        raise ConversionError(f"{path}: exactly one pooling mode must be set, found {len(chosen)} ({', '.join(chosen) or 'none'})")
    dimension = config.get("word_embedding_dimension", hidden_size)
    if dimension != hidden_size:
        raise ConversionError(f"{path}: word_embedding_dimension {dimension} differs from hidden_size {hidden_size}")
    return _POOLING_KEYS[chosen[0]]


def pooling_spec(directory: Path, hidden_size: int) -> PoolingSpec:
    """The pooling of a checkpoint directory, per its sentence-transformers modules.json (without one: mean, no normalisation)."""
    modules_path = directory / "modules.json"
    if not modules_path.is_file():
        return PoolingSpec("mean", normalize=False)
    modules = _read_json(modules_path)
    if not isinstance(modules, list):
        raise ConversionError(f"{modules_path}: expected a list of modules")
    types = [str(module.get("type")) for module in modules]
    unsupported = [kind for kind in types if kind not in _SUPPORTED_MODULES]
    if unsupported:
        raise ConversionError(f"{modules_path}: module {unsupported[0]} is unsupported (supported: Transformer, Pooling, Normalize)")
    if types.count(_ST + "Transformer") != 1 or types.count(_ST + "Pooling") > 1 or types.count(_ST + "Normalize") > 1:
        raise ConversionError(f"{modules_path}: expected one Transformer, at most one Pooling and one Normalize module, found {types}")
    pooling = next((module for module in modules if module.get("type") == _ST + "Pooling"), None)
    mode = "mean" if pooling is None else _pooling_config(directory / pooling.get("path", "") / "config.json", hidden_size)
    return PoolingSpec(mode, normalize=_ST + "Normalize" in types)


def _sbert_config(directory: Path) -> dict[str, Any]:
    path = directory / "sentence_bert_config.json"
    return _read_json(path) if path.is_file() else {}


def _default_max_seq_length(sbert: dict[str, Any], max_position_embeddings: int) -> int:
    value: Optional[int] = sbert.get("max_seq_length")
    return min(int(value), max_position_embeddings) if value else max_position_embeddings


def checkpoint_max_seq_length(directory: Path) -> int:
    """The tokens a checkpoint's encoder takes by default: sentence-transformers' max_seq_length, else max_position_embeddings.

    The converter's default too (`TextCheckpoint.default_max_seq_length`); reads only the
    two config files, so it also serves checkpoints the converter refuses.
    """
    directory = Path(directory)
    config = _read_json(directory / "config.json")
    return _default_max_seq_length(_sbert_config(directory), int(config.get("max_position_embeddings", 512)))


def read_checkpoint(directory: Path) -> TextCheckpoint:
    """Reads and validates `directory`; raises ConversionError naming the first unsupported thing."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConversionError(f"checkpoint directory not found: {directory}")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ConversionError(f"{directory}: no config.json (not a Hugging Face checkpoint directory)")
    if not (directory / WEIGHTS_FILE).is_file():
        found = "pytorch_model.bin" if (directory / "pytorch_model.bin").is_file() else "none"
        raise ConversionError(f"{directory}: no {WEIGHTS_FILE} (only safetensors weights are supported; found {found})")
    encoder = _encoder_spec(_read_json(config_path), config_path)
    sbert = _sbert_config(directory)
    tokenizer = _tokenizer_spec(directory, sbert)
    if len(tokenizer.vocab) != encoder.vocab_size:
        raise ConversionError(f"{directory}: vocab.txt has {len(tokenizer.vocab)} tokens but config.json says vocab_size {encoder.vocab_size}")
    return TextCheckpoint(
        directory=directory,
        encoder=encoder,
        tokenizer=tokenizer,
        pooling=pooling_spec(directory, encoder.hidden_size),
        default_max_seq_length=_default_max_seq_length(sbert, encoder.max_position_embeddings),
    )
