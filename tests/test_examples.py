"""The shipped example configs stay valid and in step with the defaults; example directories are prepared atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml

from retrain.components.example_data.prepared_dir import PreparedExampleDir, is_prepared, prepare_in_staging
from retrain.pipelines.config import RetrainConfig, load_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_digits_example_spells_out_the_defaults() -> None:
    assert load_config(EXAMPLES / "digits.yaml") == RetrainConfig()


def test_prepared_example_dir_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    def complete(staging: Path) -> None:
        layout = PreparedExampleDir(staging)
        layout.data_dir.mkdir(parents=True)
        layout.backbone_dir.mkdir()
        (layout.backbone_dir / "saved_model.pb").write_bytes(b"module")

    def interrupted(staging: Path) -> None:
        (staging / "data").mkdir()
        raise KeyboardInterrupt

    root = tmp_path / "example"
    with pytest.raises(KeyboardInterrupt):
        prepare_in_staging(root, interrupted)
    assert list(tmp_path.iterdir()) == [] and not is_prepared(PreparedExampleDir(root))
    prepare_in_staging(root, complete)
    assert is_prepared(PreparedExampleDir(root)) and [path.name for path in tmp_path.iterdir()] == ["example"]


def _schema_keys_missing(model: Any, value: Any, where: str) -> list[str]:
    """Fields of the pydantic `model` (recursively, through Optional, tuples and dicts of sections) absent from `value`."""
    fields = getattr(model, "model_fields", None) or getattr(model, "__pydantic_fields__", None)
    if fields is None:
        return []
    if not isinstance(value, dict):
        return [f"{where}: expected a mapping"]
    problems = [f"{where}.{name}: missing" for name in fields if name not in value]
    problems += [f"{where}.{name}: not in the schema" for name in value if name not in fields]
    for name, info in fields.items():
        if name in value and value[name] is not None:
            problems += _annotation_keys_missing(info.annotation, value[name], f"{where}.{name}")
    return problems


def _annotation_keys_missing(annotation: Any, value: Any, where: str) -> list[str]:
    args = [arg for arg in get_args(annotation) if arg is not type(None) and arg is not Ellipsis]
    origin = get_origin(annotation)
    if origin is dict and isinstance(value, dict):
        return [problem for key, item in value.items() for problem in _annotation_keys_missing(args[1], item, f"{where}.{key}")]
    if origin is tuple and isinstance(value, list) and len(args) == 1:
        return [problem for index, item in enumerate(value) for problem in _annotation_keys_missing(args[0], item, f"{where}[{index}]")]
    if origin is not None and len(args) == 1:  # Optional[Section]
        return _annotation_keys_missing(args[0], value, where)
    return _schema_keys_missing(annotation, value, where)


def test_digits_example_spells_out_every_field_of_the_schema() -> None:
    raw = yaml.safe_load((EXAMPLES / "digits.yaml").read_text())
    assert _schema_keys_missing(RetrainConfig, raw, "digits.yaml") == []
