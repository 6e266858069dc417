"""Materialises the built-in example on disk: target-task data and the pretrained backbone.

Idempotent and atomic (retrain.components.example_data.prepared_dir): an interrupted preparation
never leaves a half-written example behind, and a second call reuses the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrain.components.digits_example import backbone as backbone_lib
from retrain.components.digits_example import data as data_lib
from retrain.components.example_data.prepared_dir import PreparedExampleDir, is_prepared, prepare_in_staging

TRAIN_IMAGES_PER_CLASS = 10
PRETRAIN_EPOCHS = 40


@dataclass(frozen=True)
class ExampleLayout(PreparedExampleDir):
    """Where the prepared digits example lives."""

    @property
    def torch_backbone_path(self) -> Path:
        """The same backbone, same weights, as a TorchScript file for the PyTorch trainer."""
        return self.root / "torch_backbone.pt"

    train_pattern = "train/*.tfrecord"
    eval_pattern = "eval/*.tfrecord"


def _export_torch_backbone(layout: ExampleLayout) -> None:
    from retrain.components.digits_example.torch_backbone import export_torch_backbone  # torch only when needed here

    export_torch_backbone(str(layout.backbone_dir), str(layout.torch_backbone_path))


def write_pretrained_backbone(hub_dir: Path, torch_path: Path, seed: int = 0) -> None:
    """Pretrains the CNN on digits 0-4 and writes it as a Hub module (`hub_dir`) and a TorchScript file (`torch_path`)."""
    from retrain.components.digits_example.torch_backbone import export_torch_backbone  # torch only when needed here

    source = data_lib.select_digits(data_lib.load_digits_images(), data_lib.SOURCE_DIGITS)
    backbone_lib.export_hub_module(backbone_lib.pretrain_backbone(source, PRETRAIN_EPOCHS, seed), hub_dir)
    export_torch_backbone(str(hub_dir), str(torch_path))


def prepare_digits_example(root: Path, image_feature: str, label_feature: str, seed: int = 0) -> ExampleLayout:
    """Writes target-task TFRecords and the pretrained backbone (Hub module + TorchScript) under `root` (once)."""
    layout = ExampleLayout(root)
    if is_prepared(layout):
        if not layout.torch_backbone_path.is_file():  # prepared before the PyTorch backbone existed
            _export_torch_backbone(layout)
        return layout

    def write(staging: Path) -> None:
        staged = ExampleLayout(staging)
        everything = data_lib.load_digits_images()
        target = data_lib.select_digits(everything, data_lib.TARGET_DIGITS)
        train, evaluation = data_lib.few_shot_split(target, TRAIN_IMAGES_PER_CLASS, seed)
        data_lib.write_tfrecord(train, staged.data_dir / "train" / "digits.tfrecord", image_feature, label_feature)
        data_lib.write_tfrecord(evaluation, staged.data_dir / "eval" / "digits.tfrecord", image_feature, label_feature)
        write_pretrained_backbone(staged.backbone_dir, staged.torch_backbone_path, seed)

    prepare_in_staging(root, write)
    return layout
