"""Runs retrain's benchmarks; each prints `NAME ratio=VALUE goal=GOAL` measured side by side in one run.

Usage: python benchmarks/run.py [--quick] [NAME ...]
Ratios, not absolute times: these machines are shared and noisy. Details go to stderr.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Result:
    """One benchmark's measured ratio, its goal and whether lower or higher is better."""

    ratio: float
    goal: float
    lower_is_better: bool

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal if self.lower_is_better else self.ratio >= self.goal


def _timed_cli(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"retrain {' '.join(args)} failed: {completed.stderr.strip().splitlines()[-1:]}")
    return elapsed


def cached_rerun_time_ratio(quick: bool) -> Result:
    """Second `retrain run` of the built-in example on unchanged data / the first one (goal <= 0.2)."""
    with tempfile.TemporaryDirectory() as workdir:
        args = ["run", "--output", "out"]
        if quick:
            (Path(workdir) / "quick.yaml").write_text("training:\n  epochs: 10\nevaluation:\n  min_accuracy: 0.5\n")
            args += ["--config", "quick.yaml"]
        first = _timed_cli(*args, cwd=Path(workdir))
        second = _timed_cli(*args, cwd=Path(workdir))
    print(f"  cached_rerun_time_ratio: first run {first:.1f}s, cached re-run {second:.1f}s", file=sys.stderr)
    return Result(ratio=second / first, goal=0.2, lower_is_better=True)


BENCHMARKS: dict[str, Callable[[bool], Result]] = {
    "cached_rerun_time_ratio": cached_rerun_time_ratio,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a fast check")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in args.names or list(BENCHMARKS):
        result = BENCHMARKS[name](args.quick)
        print(f"{name} ratio={result.ratio:.3f} goal={result.goal:g}{'' if result.met else '  (goal not met)'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
