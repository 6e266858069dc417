"""One `retrain run` per metadata store: a second one refuses at once, naming the first; a dead holder frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from retrain.pipelines.run_lock import RunLocked, hold_run_lock, run_in_progress, run_lock_path

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from retrain.pipelines.run_lock import hold_run_lock
    with hold_run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    """Another process holding the run lock of `tmp_path/out/metadata.sqlite`; killed (SIGKILL) at the end."""
    metadata = tmp_path / "out" / "metadata.sqlite"
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(metadata)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process, metadata
    process.kill()
    process.wait()


def test_second_run_on_the_store_refuses_naming_the_holder(holder) -> None:
    process, metadata = holder
    assert run_in_progress(metadata)
    with pytest.raises(RunLocked, match=rf"another retrain run is using {metadata} \(pid {process.pid} on "):
        with hold_run_lock(metadata):
            pass


def test_a_killed_holder_leaves_no_stale_lock(holder) -> None:
    process, metadata = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert run_lock_path(metadata).exists() and not run_in_progress(metadata)
    with hold_run_lock(metadata):
        assert run_in_progress(metadata)
    assert not run_in_progress(metadata)


def test_retrain_run_refuses_with_one_line_and_exit_3(holder, run_cli, tmp_path: Path) -> None:
    process, metadata = holder
    completed = run_cli("run", "--output", str(metadata.parent), cwd=tmp_path, timeout=300)
    assert completed.returncode == 3, completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith(f"retrain: error: another retrain run is using {metadata} (pid {process.pid} on ")
    assert not (metadata.parent / "examples").exists()  # nothing was started
