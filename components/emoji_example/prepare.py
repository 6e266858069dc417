"""Materialises the built-in emoji example: `data/<split>/<label>/<icon>.png`, copied once and atomically.

The backbone is not part of it: `examples/images.yaml` names `efficientnet-lite0`, which
the run converts into the shared backbone cache.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from retrain.components.emoji_example.data import PER_CLASS, emoji_images
from retrain.components.example_data.prepared_dir import PreparedExampleDir, prepare_in_staging


@dataclass(frozen=True)
class EmojiExampleLayout(PreparedExampleDir):
    """Where the prepared emoji example lives."""

    train_pattern = "train/*/*"
    eval_pattern = "eval/*/*"


def is_emoji_example_prepared(layout: EmojiExampleLayout) -> bool:
    """True once the icons have been moved into place."""
    return layout.data_dir.is_dir()


def prepare_emoji_example(root: Path, per_class: int = PER_CLASS) -> EmojiExampleLayout:
    """Copies the example's icons into `root/data/<split>/<label>/` (once)."""
    layout = EmojiExampleLayout(root)
    if is_emoji_example_prepared(layout):
        return layout

    def write(staging: Path) -> None:
        for image in emoji_images(per_class):
            target = EmojiExampleLayout(staging).data_dir / image.split / image.label / image.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image.path, target)

    prepare_in_staging(root, write)
    return layout
