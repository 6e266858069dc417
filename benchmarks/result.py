"""What every benchmark returns, and a helper that times one `retrain` command."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Result:
    """One benchmark's measured ratio, its goal and whether lower or higher is better.

    A range goal sets `upper_goal` too: then `goal <= ratio <= upper_goal` is met.
    """

    ratio: float
    goal: float
    lower_is_better: bool
    upper_goal: Optional[float] = None

    @property
    def met(self) -> bool:
        if self.upper_goal is not None:
            return self.goal <= self.ratio <= self.upper_goal
        return self.ratio <= self.goal if self.lower_is_better else self.ratio >= self.goal

    @property
    def goal_text(self) -> str:
        """The goal as printed: `0.2`, or `0.8-1.25` for a range."""
        return f"{self.goal:g}" if self.upper_goal is None else f"{self.goal:g}-{self.upper_goal:g}"


def timed_cli(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "retrain.pipelines.cli", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"retrain {' '.join(args)} failed: {completed.stderr.strip().splitlines()[-1:]}")
    return elapsed
