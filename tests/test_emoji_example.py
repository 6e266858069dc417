"""The built-in emoji example: real Twemoji icons from an installed package, labelled by Unicode category."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from PIL import Image

from retrain.components.emoji_example.data import CATEGORIES, emoji_images
from retrain.components.emoji_example.prepare import prepare_emoji_example
from retrain.pipelines.builtin_example import example_files, point_at_example
from retrain.pipelines.config import load_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_icons_are_real_transparent_pngs_balanced_over_six_classes_and_both_splits() -> None:
    images = emoji_images()
    counts = Counter((image.label, image.split) for image in images)
    assert set(label for label, _ in counts) == set(CATEGORIES.values())
    assert set(counts.values()) == {60}  # 120 per class, half of them in eval
    assert len({image.path for image in images}) == len(images)
    with Image.open(images[0].path) as icon:
        assert icon.size == (72, 72) and (icon.mode == "RGBA" or "transparency" in icon.info)


def test_prepared_example_is_an_image_folder_tree_the_config_points_at(tmp_path: Path) -> None:
    layout = prepare_emoji_example(tmp_path / "emoji", per_class=4)
    files = sorted(path.relative_to(layout.data_dir).parts[:2] for path in layout.data_dir.glob("*/*/*.png"))
    assert Counter(files) == Counter({(split, label): 2 for split in ("train", "eval") for label in CATEGORIES.values()})
    assert prepare_emoji_example(tmp_path / "emoji", per_class=99) == layout  # prepared once: not rewritten

    config = load_config(EXAMPLES / "images.yaml")
    assert (config.data.example, config.backbone.name, config.backbone.channels) == ("emoji", "efficientnet-lite0", 3)
    pointed = point_at_example(config, example_files("emoji", layout.root))
    assert (pointed.data.path, pointed.data.format, pointed.data.train_pattern) == (layout.data_dir, "image_folders", "train/*/*")
    assert pointed.backbone == config.backbone  # the named backbone is resolved separately, into the shared cache
