"""`data.path` naming one file, and `data.format` left unset: inferred from the data files' extensions (or the patterns' own)."""

from __future__ import annotations

import glob
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any, Optional

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp"})
TFRECORD_SUFFIXES = frozenset({".tfrecord", ".tfrecords", ".gz"})
_SAMPLE = 50  # entries looked at per pattern: enough to tell, cheap on large directories


def _suffix(name: str) -> str:
    suffixes = PurePosixPath(name).suffixes
    return ".tfrecord" if suffixes[-2:-1] in ([".tfrecord"], [".tfrecords"]) else (suffixes[-1].lower() if suffixes else "")


def _by_suffix(name: str, task_type: str) -> Optional[str]:
    suffix = _suffix(name)
    if suffix == ".csv":
        return "image_manifest" if task_type == "image_classification" else "csv"
    if suffix in TFRECORD_SUFFIXES:
        return "tfrecord"
    return "image_folders" if suffix in IMAGE_SUFFIXES else None


def _format_of(entry: Path, task_type: str) -> Optional[str]:
    if entry.is_dir():
        images = any(child.is_file() and _suffix(child.name) in IMAGE_SUFFIXES for child in islice(entry.iterdir(), _SAMPLE))
        return "image_folders" if images else None
    found = _by_suffix(entry.name, task_type)
    return found if found != "image_folders" else None  # image files belong in <label>/ folders


def infer_format(path: Optional[str], patterns: list[str], task_type: str) -> str:
    """The format of the files matching `patterns` under `path` (`*` without patterns); tfrecord when unclear.

    A pattern's own extension decides first (`train/*.csv`). `.csv` files are CSV for
    text tasks and image manifests for image tasks; folders of image files are
    `image_folders`; `.tfrecord`, `.tfrecords` and `.gz` are TFRecords.
    """
    for pattern in patterns:
        found = _by_suffix(PurePosixPath(pattern).name, task_type)
        if found is not None:
            return found
    root = Path(path) if path else None
    if root is None or not root.is_dir():
        return "tfrecord"
    for pattern in patterns or ["*"]:
        for entry in islice(root.glob(pattern.replace("{SPAN}", "*").replace("{VERSION}", "*")), _SAMPLE):
            found = _format_of(entry, task_type)
            if found is not None:
                return found
    return "tfrecord"


def one_file_as_directory(data: dict[str, Any]) -> dict[str, Any]:
    """A `data` section whose `path` names one existing file, as its directory with `pattern` matching that file.

    ValueError when patterns are set too (they select files inside a directory).
    """
    path = data.get("path")
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        return data
    if any(data.get(key) is not None for key in ("pattern", "train_pattern", "eval_pattern")):
        raise ValueError(
            f"data.path names a file ({path}) and data patterns are set: patterns select files in a directory, point data.path at its folder"
        )
    file = Path(path)
    return {**data, "path": str(file.parent), "pattern": glob.escape(file.name)}
