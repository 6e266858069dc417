"""The shipped example configs stay valid and in step with the defaults; example directories are prepared atomically."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.example_data.prepared_dir import PreparedExampleDir, is_prepared, prepare_in_staging
from pipelines.config import RetrainConfig, load_config

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
