"""What a converted text module records about itself in `assets.extra/hub_text.json`."""

from __future__ import annotations

import json
from typing import Optional

METADATA_FILE = "assets.extra/hub_text.json"
_HUB_URL_PREFIXES = ("http://", "https://")  # tfhub.dev / Kaggle handles: never converted modules, never read


def recorded_max_seq_length(module_dir: str) -> Optional[int]:
    """The `max_seq_length` that `retrain export-hub-text` recorded in the module at `module_dir` (local or gs://).

    None when `module_dir` is not a converted module (a hub URL, an image backbone, a
    module made elsewhere); ValueError naming the file when the record is unreadable.
    """
    if module_dir.startswith(_HUB_URL_PREFIXES):
        return None
    from tfx.dsl.io import fileio

    path = f"{module_dir.rstrip('/')}/{METADATA_FILE}"
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as handle:
        text = handle.read()
    try:
        length = json.loads(text)["max_seq_length"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: no readable max_seq_length ({error.__class__.__name__}: {error})") from None
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"{path}: max_seq_length must be a positive integer, got {length!r}")
    return length
