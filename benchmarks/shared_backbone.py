"""shared_backbone_speedup: two tasks on one shared backbone vs two separate single-task pipelines.

Data: the scikit-learn digits 5-9 as PNG TFRecords with two label columns, `digit` and
`parity`, and the built-in `digits-cnn` backbone in `fine_tune`. Three fresh `retrain run`s
with the same epochs, batch and seed: one with `task.labels: [digit, parity]`, one per label
alone. Ratios:
- training: seconds of the two single-task runs / the shared run, end to end (goal >= 1.7);
  the Trainer steps alone are printed too;
- serving: per-example latency of both answers, one request at a time: the two single-task
  models called one after the other / the shared model called once (`serving_raw`, PNG bytes in;
  goal >= 1.8), requests interleaved so machine noise hits both sides alike;
- accuracy: the largest drop of a task's eval accuracy on the shared model below its
  single-task model, in points (goal <= 1.0).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.result import Result

TASKS = ("digit", "parity")
PARITY = {digit: "even" if digit % 2 == 0 else "odd" for digit in range(10)}
NAMES = {digit: str(digit) for digit in range(10)}
_DONE = re.compile(r"^\[retrain\] Trainer done in ([\d.]+)s$", re.MULTILINE)
_TASK_ACCURACY = re.compile(r"^\s*eval accuracy, task (\w+): ([\d.]+)", re.MULTILINE)
_ACCURACY = re.compile(r"^\s*eval accuracy: ([\d.]+)", re.MULTILINE)


def _write_data(root: Path, quick: bool) -> tuple[int, int]:
    """Train and eval TFRecords of digits 5-9 with both label columns; returns (train, eval) counts."""
    from retrain.components.digits_example import data as digits

    images = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    order = np.random.default_rng(0).permutation(len(images.labels))[: 300 if quick else None]
    cut = int(len(order) * 0.6)
    parts = {"train": order[:cut], "eval": order[cut:]}
    for split, indices in parts.items():
        subset = digits.LabelledImages(images.images[indices], images.labels[indices])
        digits.write_tfrecord(subset, root / "data" / split / "data.tfrecord", "image", "digit", {"parity": PARITY})
    return len(parts["train"]), len(parts["eval"])


def _config(workdir: Path, backbone: Path, labels: Sequence[str], epochs: int) -> Path:
    name = "-".join(labels)
    path = workdir / f"{name}.yaml"
    path.write_text(
        f"pipeline_name: {name}\n"
        f"data: {{path: {workdir / 'data'}, train_pattern: 'train/*', eval_pattern: 'eval/*'}}\n"
        f"backbone: {{handle: {backbone}}}\n"
        f"task: {{labels: [{', '.join(labels)}]}}\n"
        f"training: {{epochs: {epochs}, mode: fine_tune, batch_size: 32, seed: 0}}\n"
        "evaluation: {min_accuracy: 0.0, max_accuracy_drop: 1.0}\n"
    )
    return path


def _run(config: Path, output: Path) -> dict[str, Any]:
    """One fresh `retrain run`: its wall seconds, Trainer seconds, each task's eval accuracy and the pushed model."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "retrain.pipelines.cli", "run", "--config", str(config), "--output", str(output)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"retrain run --config {config.name} failed: {completed.stderr.strip().splitlines()[-1:]}")
    accuracies = {task: float(value) for task, value in _TASK_ACCURACY.findall(completed.stdout)}
    if not accuracies:
        accuracies = {config.stem: float(_ACCURACY.findall(completed.stdout)[0])}
    [pushed] = [path for path in (output / "serving" / config.stem).iterdir() if path.name.isdigit()]
    return {"seconds": seconds, "trainer": float(_DONE.findall(completed.stdout)[0]), "accuracies": accuracies, "model": pushed}


def _serving_ratio(shared: Path, singles: Sequence[Path], images: Sequence[bytes], repeats: int) -> tuple[float, float, float]:
    """(ratio, shared ms, singles ms): median per-request latency of both answers, one image per request."""
    import tensorflow as tf

    def caller(path: Path) -> Any:
        return tf.saved_model.load(str(path)).signatures["serving_raw"]

    shared_call, single_calls = caller(shared), [caller(path) for path in singles]
    inputs = [tf.constant([image]) for image in images]
    for request in inputs[:5]:  # warm-up: first calls trace and allocate
        shared_call(image=request)
        for call in single_calls:
            call(image=request)
    shared_times, single_times = [], []
    for index in range(repeats):
        request = inputs[index % len(inputs)]
        start = time.perf_counter()
        shared_call(image=request)
        middle = time.perf_counter()
        for call in single_calls:
            call(image=request)
        single_times.append(time.perf_counter() - middle)
        shared_times.append(middle - start)
    shared_ms, single_ms = 1000 * statistics.median(shared_times), 1000 * statistics.median(single_times)
    return single_ms / shared_ms, shared_ms, single_ms


def shared_backbone_speedup(quick: bool) -> dict[str, Result]:
    """Training time, serving latency and accuracy of one shared two-task model vs two single-task models."""
    from retrain.components.digits_example import data as digits
    from retrain.components.digits_example.prepare import prepare_digits_example

    epochs, repeats = (5, 100) if quick else (30, 400)
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        backbone = prepare_digits_example(workdir / "example", "image", "label").backbone_dir
        train_count, eval_count = _write_data(workdir, quick)
        shared = _run(_config(workdir, backbone, TASKS, epochs), workdir / "shared")
        singles = {task: _run(_config(workdir, backbone, (task,), epochs), workdir / task) for task in TASKS}
        test_images = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS).images[:50]
        serving, shared_ms, single_ms = _serving_ratio(
            shared["model"], [singles[task]["model"] for task in TASKS], [digits.encode_png(image) for image in test_images], repeats
        )
    separate_seconds = sum(run["seconds"] for run in singles.values())
    separate_trainer = sum(run["trainer"] for run in singles.values())
    separate_runs = " + ".join(f"{run['seconds']:.1f}" for run in singles.values())
    drops = {task: 100 * (singles[task]["accuracies"][task] - shared["accuracies"][task]) for task in TASKS}
    print(
        f"  shared_backbone_speedup: {train_count} train / {eval_count} eval images, {epochs} epochs fine_tune; "
        f"runs: shared {shared['seconds']:.1f}s vs separate {separate_runs}s; "
        f"Trainer steps: shared {shared['trainer']:.1f}s vs separate {separate_trainer:.1f}s "
        f"({separate_trainer / shared['trainer']:.2f}x); serving per request: shared {shared_ms:.2f} ms vs separate {single_ms:.2f} ms; "
        "eval accuracy shared / single: "
        + ", ".join(f"{task} {shared['accuracies'][task]:.4f} / {singles[task]['accuracies'][task]:.4f}" for task in TASKS),
        file=sys.stderr,
    )
    return {
        "shared_backbone_training_speedup": Result(ratio=separate_seconds / shared["seconds"], goal=1.7, lower_is_better=False),
        "shared_backbone_serving_speedup": Result(ratio=serving, goal=1.8, lower_is_better=False),
        "shared_backbone_accuracy_drop_points": Result(ratio=max(drops.values()), goal=1.0, lower_is_better=True),
    }
