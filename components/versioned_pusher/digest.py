"""A digest of what a model computes, stable across identical trainings.

Two trainings with the same inputs give the same weights, but not the same bytes
everywhere: a SavedModel's `saved_model.pb` and `fingerprint.pb` differ from one
export to the next. The digest therefore covers what holds the weights and vocabularies:
- a SavedModel (`saved_model.pb` present): the files under `variables/`, `assets/`
  and `assets.extra/`;
- a PyTorch export (`state_dict.pt` present, components/torch_trainer/export.py):
  `state_dict.pt`, `labels.json` and `tokenizer/` (not the TorchScript/ONNX graphs);
- anything else: every file.
Each file enters with its path relative to the model directory.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable, Iterable

from tfx.dsl.io import fileio

SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_CONTENT = ("variables", "assets", "assets.extra")
STATE_DICT_FILE = "state_dict.pt"  # as components/torch_trainer/export.py names it
TORCH_CONTENT = (STATE_DICT_FILE, "labels.json", "tokenizer")


def _files_under(model_dir: str, keep: Callable[[str], bool]) -> list[str]:
    """Relative paths of the files under `model_dir` that `keep` accepts, sorted."""
    found = []
    for root, _, names in fileio.walk(model_dir):
        for name in names:
            relative = os.path.relpath(os.path.join(root, name), model_dir)
            if keep(relative):
                found.append(relative)
    return sorted(found)


def _under(prefixes: Iterable[str]) -> Callable[[str], bool]:
    tops = set(prefixes)
    return lambda relative: relative.split(os.sep, 1)[0] in tops


def _hash_files(digest: "hashlib._Hash", model_dir: str, relatives: list[str]) -> None:
    for relative in relatives:
        digest.update(relative.encode() + b"\0")
        with fileio.open(os.path.join(model_dir, relative), "rb") as handle:
            digest.update(handle.read())


def model_content_digest(model_dir: str, ignored: Iterable[str] = ()) -> str:
    """SHA-256 of the model's content as described above; files named in `ignored` (relative paths) never count."""
    skip = set(ignored)
    digest = hashlib.sha256()
    if fileio.exists(os.path.join(model_dir, SAVED_MODEL_PB)):
        keep = _under(SAVED_MODEL_CONTENT)
    elif fileio.exists(os.path.join(model_dir, STATE_DICT_FILE)):
        keep = _under(TORCH_CONTENT)
    else:
        keep = lambda relative: True  # noqa: E731
    _hash_files(digest, model_dir, _files_under(model_dir, lambda relative: relative not in skip and keep(relative)))
    return digest.hexdigest()
