"""Benchmarks of whole `retrain run` invocations."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.result import Result, timed_cli


def cached_rerun_time_ratio(quick: bool) -> Result:
    """Second `retrain run` of the built-in example on unchanged data / the first one (goal <= 0.2)."""
    with tempfile.TemporaryDirectory() as workdir:
        args = ["run", "--output", "out"]
        if quick:
            (Path(workdir) / "quick.yaml").write_text("training:\n  epochs: 10\nevaluation:\n  min_accuracy: 0.5\n")
            args += ["--config", "quick.yaml"]
        first = timed_cli(*args, cwd=Path(workdir))
        second = timed_cli(*args, cwd=Path(workdir))
    print(f"  cached_rerun_time_ratio: first run {first:.1f}s, cached re-run {second:.1f}s", file=sys.stderr)
    return Result(ratio=second / first, goal=0.2, lower_is_better=True)
