"""Two `retrain run` on one output, a run killed at its push, and the run after it (whole local pipelines)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrain.components.versioned_pusher.locking import exclusive_lock
from retrain.components.versioned_pusher.versioning import STAGING_PREFIX, destination_lock_path, pushed_versions
from retrain.pipelines.leftovers import interrupted_executions
from retrain.pipelines.run_lock import run_in_progress

pytestmark = pytest.mark.e2e


def _wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the first run ended (exit {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _outcomes(run_cli, output: Path, cwd: Path) -> list[str]:
    history = run_cli("history", "--output", str(output), cwd=cwd)
    assert history.returncode == 0, history.stderr
    return [line.split("  ")[-1].strip() for line in history.stdout.strip().splitlines()[1:]]


def test_second_run_refuses_a_run_killed_at_the_push_is_interrupted_and_the_next_run_cleans_up(tmp_path: Path, run_cli, seed_digits_example) -> None:
    output, serving = tmp_path / "out", tmp_path / "out" / "serving" / "digits"
    seed_digits_example(output)
    # few epochs and an open gate: the runs only have to reach the push, how good the model is is not what this tests
    (tmp_path / "config.yaml").write_text("training: {epochs: 5}\nevaluation: {min_accuracy: 0.0}\n")
    metadata = output / "metadata.sqlite"
    with exclusive_lock(destination_lock_path(str(serving))):  # the first run's pusher waits here, so it is killed exactly at the push
        first = subprocess.Popen(
            [sys.executable, "-m", "retrain.pipelines.cli", "run", "--config", "config.yaml", "--output", str(output)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: run_in_progress(metadata), "the run lock", first)
            second = run_cli("run", "--config", "config.yaml", "--output", str(output), cwd=tmp_path, timeout=300)
            assert second.returncode == 3, second.stderr
            assert f"another retrain run is using {metadata} (pid {first.pid} on " in second.stderr

            pushing = lambda: metadata.exists() and any(node == "VersionedPusher" for _, node in interrupted_executions(metadata))  # noqa: E731
            _wait_for(pushing, "the push", first)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    [(pusher_id, _)] = [entry for entry in interrupted_executions(metadata) if entry[1] == "VersionedPusher"]
    leftover = output / "pipeline_root" / "VersionedPusher" / "pushed_model" / str(pusher_id)
    assert leftover.is_dir() and pushed_versions(str(serving)) == []
    assert _outcomes(run_cli, output, tmp_path) == ["interrupted at VersionedPusher"]

    stale_staging = serving / f"{STAGING_PREFIX}{int(time.time())}-killed"
    (stale_staging / "variables").mkdir(parents=True)  # what a push killed mid-copy leaves
    third = run_cli("run", "--config", "config.yaml", "--output", str(output), cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert f"removed the output of an interrupted step: {leftover}" in third.stdout
    assert "pushed model:" in third.stdout
    assert pushed_versions(str(serving)) == [1]
    assert not leftover.exists() and not stale_staging.exists()
    assert _outcomes(run_cli, output, tmp_path) == ["interrupted at VersionedPusher", "ok"]
