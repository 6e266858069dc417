"""A run's temporary files go to a directory of its own that is removed afterwards (pipelines/run_tempdir.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.dsl.components.base import base_beam_executor

from retrain.pipelines.config import RunnerConfig
from retrain.pipelines.run_tempdir import run_tempdir


@pytest.fixture
def system_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's temporary directory, redirected into the test's own."""
    directory = tmp_path / "system-tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    monkeypatch.setenv("TMPDIR", str(directory))
    return directory


def _beam_executor(beam_args: list[str], tmp_path: Path) -> base_beam_executor.BaseBeamExecutor:
    """StatisticsGen's executor, as TFX's launcher constructs it."""
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=beam_args, tmp_dir=str(tmp_path / "executor"), unique_id="1")
    return statistics_gen_executor.Executor(context)


def test_python_and_started_processes_write_temporary_files_inside_then_it_is_removed(system_tempdir: Path) -> None:
    with run_tempdir() as directory:
        assert directory.parent == system_tempdir
        assert Path(tempfile.mkdtemp()).parent == directory
        child = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"], capture_output=True, text=True, check=True)
        assert child.stdout.strip() == str(directory)
    assert not directory.exists()
    assert tempfile.gettempdir() == str(system_tempdir)
    assert list(system_tempdir.iterdir()) == []


def test_a_failed_run_removes_it_too(system_tempdir: Path) -> None:
    with pytest.raises(RuntimeError, match="step failed"), run_tempdir() as directory:
        (directory / "partial").write_text("x")
        raise RuntimeError("step failed")
    assert list(system_tempdir.iterdir()) == []


def test_tfx_beam_executors_leave_their_package_copy_inside(system_tempdir: Path, tmp_path: Path) -> None:
    with run_tempdir() as directory:
        _beam_executor(["--direct_num_workers=1"], tmp_path)  # any Beam arg: TFX copies tfx and builds an sdist
        assert any(directory.rglob("setup.py"))
    assert list(system_tempdir.iterdir()) == []


def test_the_default_beam_args_make_tfx_build_no_package(system_tempdir: Path, tmp_path: Path) -> None:
    assert RunnerConfig().beam_args == ()
    _beam_executor(list(RunnerConfig().beam_args), tmp_path)
    assert list(system_tempdir.iterdir()) == []
