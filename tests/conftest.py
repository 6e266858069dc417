"""Shared fixtures: the built-in example prepared once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.digits_example.prepare import ExampleLayout, prepare_digits_example
from retrain.components.text_example.prepare import TextExampleLayout, prepare_text_example

if TYPE_CHECKING:
    from two_task_data import TwoTaskDigits

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def digits_example(tmp_path_factory: pytest.TempPathFactory) -> ExampleLayout:
    """Target-task TFRecords and the pretrained Hub-format backbone, built offline."""
    return prepare_digits_example(tmp_path_factory.mktemp("examples") / "digits", "image", "label")


@pytest.fixture(scope="session")
def two_task_digits(tmp_path_factory: pytest.TempPathFactory, digits_example: ExampleLayout) -> "TwoTaskDigits":
    """The digits with two label columns (`digit`, `size`) through the real Transform graph, each task's label map beside it
    (tests/two_task_data.py; both trainers' multi-task tests)."""
    from two_task_data import transform_two_task_digits

    return transform_two_task_digits(tmp_path_factory.mktemp("two_task"), digits_example)


@pytest.fixture(scope="session")
def text_example(tmp_path_factory: pytest.TempPathFactory) -> TextExampleLayout:
    """The built-in text example: support-message CSVs and the installed MiniLM converted to a Hub module (once)."""
    return prepare_text_example(tmp_path_factory.mktemp("examples") / "text", "text", "label")


def _run_cli(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "retrain.pipelines.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the `retrain` CLI in a fresh process, as a user would: run_cli(*args, cwd=DIR)."""
    return _run_cli


@pytest.fixture(scope="session")
def seed_digits_example(digits_example: ExampleLayout) -> Callable[[Path], None]:
    """seed_digits_example(OUTPUT): the session's prepared digits example copied to where `retrain run --output OUTPUT`
    looks for it, so that run skips preparing it again (tests/test_e2e.py still runs the preparation)."""

    def seed(output: Path) -> None:
        shutil.copytree(digits_example.root, output / "examples" / "digits")

    return seed
