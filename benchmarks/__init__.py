"""retrain's benchmarks: measured ratios, run with `python -m benchmarks.run`."""
