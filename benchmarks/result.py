"""What every benchmark returns, and a helper that times one `retrain` command."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    """One benchmark's measured ratio, its goal and whether lower or higher is better."""

    ratio: float
    goal: float
    lower_is_better: bool

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal if self.lower_is_better else self.ratio >= self.goal


def timed_cli(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"retrain {' '.join(args)} failed: {completed.stderr.strip().splitlines()[-1:]}")
    return elapsed
