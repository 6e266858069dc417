"""The built-in text example: `examples/text.yaml` resolves to the example's CSVs and the converted MiniLM."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from retrain.components.text_example import data as text_data
from retrain.components.text_example.prepare import TextExampleLayout, minilm_checkpoint_dir
from retrain.pipelines.builtin_example import materialize_builtin_example
from retrain.pipelines.config import ConfigError, config_from_dict, load_config
from retrain.pipelines.paths import resolve_run_paths

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "text.yaml"


def test_text_yaml_uses_the_prepared_example(tmp_path: Path, text_example: TextExampleLayout) -> None:
    config = load_config(EXAMPLE_CONFIG)
    paths = resolve_run_paths(config, tmp_path / "out")
    paths.examples_dir.mkdir(parents=True)
    (paths.examples_dir / "text").symlink_to(text_example.root)  # prepared once per session; a re-run reuses it

    resolved = materialize_builtin_example(config, paths)
    assert (resolved.data.example, resolved.data.format) == (None, "csv")
    assert resolved.data.path == paths.examples_dir / "text" / "data"
    assert Path(resolved.backbone.handle) == paths.examples_dir / "text" / "backbone"
    assert resolved.backbone.torch_checkpoint == minilm_checkpoint_dir()

    for pattern, per_class in ((resolved.data.train_pattern, 10), (resolved.data.eval_pattern, 12)):
        (path,) = resolved.data.path.glob(pattern)
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert Counter(row["label"] for row in rows) == {label: per_class for label in text_data.LABELS}
        assert all(row["text"].strip() for row in rows)


def test_train_and_eval_messages_are_different_requests() -> None:
    train, evaluation = text_data.train_messages(), text_data.eval_messages()
    assert not set(train.texts) & set(evaluation.texts)
    assert train == text_data.train_messages()  # deterministic


def test_text_example_needs_a_text_task() -> None:
    with pytest.raises(ConfigError, match="the built-in text example is a text_classification task"):
        config_from_dict({"data": {"example": "text"}})
