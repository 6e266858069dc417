"""Turns `data.example` (digits or text) and `backbone.name` into concrete files: data and pretrained backbones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from retrain.components.backbones.cache import ResolvedBackbone, backbone_paths, resolve_backbone
from retrain.components.digits_example.prepare import ExampleLayout, is_prepared, prepare_digits_example
from retrain.components.emoji_example.prepare import EmojiExampleLayout, is_emoji_example_prepared, prepare_emoji_example
from retrain.components.text_example.prepare import TextExampleLayout, minilm_checkpoint_dir, prepare_text_example
from retrain.components.text_example.prepare import is_prepared as is_text_example_prepared
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.paths import RunPaths

_DESCRIPTIONS = {
    "digits": "target data: digits 5-9; backbone pretrained on digits 0-4, exported as a TF Hub module",
    "text": "support messages in 4 intents; backbone: all-MiniLM-L6-v2 converted to a TF Hub module",
    "emoji": "720 Twemoji icons (RGBA PNGs) in 6 emoji categories; backbone: the config's backbone.name",
}


@dataclass(frozen=True)
class ExampleFiles:
    """Where a built-in example's files are, as the config's data and backbone sections name them."""

    data_dir: Path
    data_format: str
    train_pattern: str
    eval_pattern: str
    backbone_dir: Optional[Path]  # None: the config names the backbone
    torch_checkpoint: Optional[Path]


def example_files(name: str, root: Path) -> ExampleFiles:
    """The files of built-in example `name` prepared under `root` (prepared or not)."""
    if name == "text":
        text = TextExampleLayout(root)
        return ExampleFiles(text.data_dir, "csv", text.train_pattern, text.eval_pattern, text.backbone_dir, minilm_checkpoint_dir())
    if name == "emoji":
        emoji = EmojiExampleLayout(root)
        return ExampleFiles(emoji.data_dir, "image_folders", emoji.train_pattern, emoji.eval_pattern, None, None)
    digits = ExampleLayout(root)
    return ExampleFiles(digits.data_dir, "tfrecord", digits.train_pattern, digits.eval_pattern, digits.backbone_dir, digits.torch_backbone_path)


def point_at_example(config: RetrainConfig, files: ExampleFiles) -> RetrainConfig:
    """`config` reading the example's data, and its backbones where the config names none."""
    data = config.data.model_copy(
        update={
            "example": None,
            "path": files.data_dir,
            "format": files.data_format,
            "train_pattern": files.train_pattern,
            "eval_pattern": files.eval_pattern,
        }
    )
    backbone = config.backbone
    if backbone.handle is None and files.backbone_dir is not None:
        backbone = backbone.model_copy(update={"handle": str(files.backbone_dir)})
    if backbone.torch_checkpoint is None and files.torch_checkpoint is not None:
        backbone = backbone.model_copy(update={"torch_checkpoint": files.torch_checkpoint})
    return config.model_copy(update={"data": data, "backbone": backbone})


def _with_backbone(config: RetrainConfig, resolved: ResolvedBackbone) -> RetrainConfig:
    backbone = config.backbone.model_copy(update={"handle": str(resolved.handle), "torch_checkpoint": resolved.torch_checkpoint})
    return config.model_copy(update={"backbone": backbone})


def resolve_named_backbone(config: RetrainConfig, cache_root: Optional[Path] = None) -> RetrainConfig:
    """`config` with `backbone.name` resolved to its TF Hub module and PyTorch backbone (converted into the cache once)."""
    name = config.backbone.name
    if name is None or config.backbone.handle is not None:
        return config
    return _with_backbone(config, resolve_backbone(name, cache_root))


def point_at_cached_backbone(config: RetrainConfig, cache_root: Path) -> RetrainConfig:
    """`config` with `backbone.name` pointing into the cache at `cache_root` as it is laid out there (nothing converted)."""
    name = config.backbone.name
    if name is None or config.backbone.handle is not None:
        return config
    return _with_backbone(config, backbone_paths(name, cache_root))


def materialize_builtin_example(config: RetrainConfig, paths: RunPaths) -> RetrainConfig:
    """Resolves a named backbone, prepares the built-in example (once) and returns the config pointing at their files."""
    config = resolve_named_backbone(config)
    name = config.data.example
    if name is None:
        return config
    root = paths.examples_dir / name
    prepared = {
        "text": lambda: is_text_example_prepared(TextExampleLayout(root)),
        "emoji": lambda: is_emoji_example_prepared(EmojiExampleLayout(root)),
    }
    if not prepared.get(name, lambda: is_prepared(ExampleLayout(root)))():
        print(f"[retrain] preparing the built-in '{name}' example in {root}", flush=True)
        print(f"[retrain]   ({_DESCRIPTIONS[name]})", flush=True)
    if name == "text":
        prepare_text_example(root, text_feature=config.task.text_feature, label_feature=config.task.label_feature)
    elif name == "emoji":
        prepare_emoji_example(root)
    else:
        prepare_digits_example(root, image_feature=config.task.image_feature, label_feature=config.task.label_feature)
    return point_at_example(config, example_files(name, root))
