"""A temporary directory per run that every library's temporary files go to, removed when the run ends.

TFX's Beam executors copy the installed `tfx` package into a fresh `mkdtemp()` and build an
sdist of it whenever Beam args are given (52 MB per Beam step, never removed), and Beam
and TensorFlow leave temporary files of their own; on a machine that retrains on a
schedule these would fill the disk. During the run, Python's `tempfile` and the `TMPDIR`
of every process the run starts (Beam's worker processes) point at one directory under
the system's temporary directory, which is removed afterwards, whether the run succeeded
or not. The setting is process-wide, so it suits one run per process (the CLI's `run`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def run_tempdir() -> Iterator[Path]:
    """Points `tempfile` and `TMPDIR` at a new directory for the duration of the block, then removes it."""
    directory = tempfile.mkdtemp(prefix="retrain-run-")
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = directory, directory
    try:
        yield Path(directory)
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(directory, ignore_errors=True)
