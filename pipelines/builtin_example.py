"""Turns `data.example` (digits or text) into concrete files: the example's data and pretrained backbone."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.digits_example.prepare import ExampleLayout, is_prepared, prepare_digits_example
from components.text_example.prepare import TextExampleLayout, minilm_checkpoint_dir, prepare_text_example
from components.text_example.prepare import is_prepared as is_text_example_prepared
from pipelines.config import RetrainConfig
from pipelines.paths import RunPaths

_DESCRIPTIONS = {
    "digits": "target data: digits 5-9; backbone pretrained on digits 0-4, exported as a TF Hub module",
    "text": "support messages in 4 intents; backbone: all-MiniLM-L6-v2 converted to a TF Hub module",
}


@dataclass(frozen=True)
class ExampleFiles:
    """Where a built-in example's files are, as the config's data and backbone sections name them."""

    data_dir: Path
    data_format: str
    train_pattern: str
    eval_pattern: str
    backbone_dir: Path
    torch_checkpoint: Path


def example_files(name: str, root: Path) -> ExampleFiles:
    """The files of built-in example `name` prepared under `root` (prepared or not)."""
    if name == "text":
        text = TextExampleLayout(root)
        return ExampleFiles(text.data_dir, "csv", text.train_pattern, text.eval_pattern, text.backbone_dir, minilm_checkpoint_dir())
    digits = ExampleLayout(root)
    return ExampleFiles(
        digits.data_dir, "tfrecord", digits.train_pattern, digits.eval_pattern, digits.backbone_dir, digits.torch_backbone_path
    )


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
    if backbone.handle is None:
        backbone = backbone.model_copy(update={"handle": str(files.backbone_dir)})
    if backbone.torch_checkpoint is None:
        backbone = backbone.model_copy(update={"torch_checkpoint": files.torch_checkpoint})
    return config.model_copy(update={"data": data, "backbone": backbone})


def materialize_builtin_example(config: RetrainConfig, paths: RunPaths) -> RetrainConfig:
    """Prepares the built-in example (once) and returns the config pointing at its files."""
    name = config.data.example
    if name is None:
        return config
    root = paths.examples_dir / name
    prepared = is_text_example_prepared(TextExampleLayout(root)) if name == "text" else is_prepared(ExampleLayout(root))
    if not prepared:
        print(f"[retrain] preparing the built-in '{name}' example in {root}", flush=True)
        print(f"[retrain]   ({_DESCRIPTIONS[name]})", flush=True)
    if name == "text":
        prepare_text_example(root, text_feature=config.task.text_feature, label_feature=config.task.label_feature)
    else:
        prepare_digits_example(root, image_feature=config.task.image_feature, label_feature=config.task.label_feature)
    return point_at_example(config, example_files(name, root))
