"""The benchmark runner imports every registered benchmark (a renamed helper breaks `python -m benchmarks.run`)."""

from __future__ import annotations

import subprocess
import sys


def test_the_runner_lists_and_validates_its_benchmarks() -> None:
    from benchmarks.run import BENCHMARKS

    assert {"pipeline_scaling", "cli_startup_ratio", "beam_multiprocess_speedup", "search_efficiency"} <= set(BENCHMARKS)
    assert all(callable(benchmark) for benchmark in BENCHMARKS.values())
    unknown = subprocess.run([sys.executable, "-m", "benchmarks.run", "no_such_benchmark"], capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2 and "unknown benchmark(s): no_such_benchmark" in unknown.stderr
