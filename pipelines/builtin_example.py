"""Turns `data.example: digits` into concrete files: the example's data and pretrained backbone."""
from __future__ import annotations

from components.digits_example.prepare import ExampleLayout, is_prepared, prepare_digits_example
from pipelines.config import RetrainConfig
from pipelines.paths import RunPaths


def materialize_builtin_example(config: RetrainConfig, paths: RunPaths) -> RetrainConfig:
    """Prepares the built-in example (once) and returns the config pointing at its files."""
    if config.data.example is None:
        return config
    root = paths.examples_dir / config.data.example
    if not is_prepared(ExampleLayout(root)):
        print(f"[retrain] preparing the built-in '{config.data.example}' example in {root}", flush=True)
        print("[retrain]   (target data: digits 5-9; backbone pretrained on digits 0-4, exported as a TF Hub module)", flush=True)
    layout = prepare_digits_example(
        root,
        image_feature=config.task.image_feature,
        label_feature=config.task.label_feature,
    )
    data = config.data.model_copy(
        update={
            "example": None,
            "path": layout.data_dir,
            "format": "tfrecord",
            "train_pattern": ExampleLayout.train_pattern,
            "eval_pattern": ExampleLayout.eval_pattern,
        }
    )
    backbone = config.backbone
    if backbone.handle is None:
        backbone = backbone.model_copy(update={"handle": str(layout.backbone_dir)})
    return config.model_copy(update={"data": data, "backbone": backbone})
