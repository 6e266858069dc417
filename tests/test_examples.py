"""The shipped example configs stay valid and in step with the defaults."""
from __future__ import annotations

from pathlib import Path

from pipelines.config import RetrainConfig, load_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_digits_example_spells_out_the_defaults() -> None:
    assert load_config(EXAMPLES / "digits.yaml") == RetrainConfig()
