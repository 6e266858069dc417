"""PyTorch vs. TF trainer on the same backbone weights, data, mode and epochs (CPU).

Both start from the built-in example's backbone (the TF Hub module and its
PyTorch copy with the same weights), train `fine_tune` (so both run the backbone
forward and backward every step) on the example's few-shot train split for the
same epochs and batch size, and are scored on its eval split. With 50 training
images one seed is noisy, so each trainer trains once per seed and the accuracies are
averaged: SEEDS at full size (40 epochs; one seed's accuracy spreads by about 1 point),
QUICK_SEEDS at `--quick` (10 epochs, not yet converged: it spreads by about 6 points, so
5 seeds left a standard error of about 4 points on the gap, 40 seeds about 1.3). The
detail line prints the gap's standard error. Throughput is that of the first run in the fresh process.

Each trainer runs in a fresh process of its own, as a TFX Trainer does: data
loading and model building are untimed, the timed part is the `train_classifier`
call, so each side pays its own first-training costs there (TF: autograph
conversion and tracing of the training step; PyTorch: its kernel and TorchScript
warm-up) and nothing else. Timing both in the process that prepared the example
would favour TF: preparing pretrains the backbone with a Keras `fit`, which pays
TF's one-time autograph conversion untimed, while PyTorch's one-time warm-up
would still fall inside its timed run.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.result import Result
from benchmarks.settings import benchmark_plan, benchmark_settings

THROUGHPUT_RANGE = (0.8, 1.25)  # PyTorch examples/s within this factor of TF's
SEEDS = (42, 0, 1, 2, 3)
QUICK_SEEDS = (42, *range(39))
CPU_MIXED_PRECISION_GAP = 0.5  # points of eval accuracy, mean over the seeds
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class TrainerRun:
    """One trainer's training speed (first run) and eval accuracy (mean over seeds, and each seed's)."""

    examples_per_second: float
    accuracy: float
    seed_accuracies: tuple[float, ...] = ()


def seeds(quick: bool) -> tuple[int, ...]:
    """The seeds each trainer trains once with at this size (the first one's run gives the throughput)."""
    return QUICK_SEEDS if quick else SEEDS


def _plan(quick: bool, seed: int = SEEDS[0], mixed_precision: bool = False):
    return benchmark_plan(
        mode="fine_tune",
        epochs=10 if quick else 40,
        batch_size=16,
        learning_rate=1e-2,
        backbone_learning_rate_scale=0.1,
        seed=seed,
        cpu_mixed_precision=mixed_precision,
    )


def _data(prepared) -> tuple:
    import retrain.pipelines  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
    import tensorflow as tf

    from retrain.components.digits_example import data as digits

    def read(split: str) -> tuple[np.ndarray, np.ndarray]:
        files = sorted(str(path) for path in (prepared.data_dir / split).glob("*.tfrecord"))
        images, labels = [], []
        for record in tf.data.TFRecordDataset(files):
            example = tf.train.Example.FromString(record.numpy()).features.feature
            images.append(tf.io.decode_image(example["image"].bytes_list.value[0], channels=1).numpy() / 255.0)
            labels.append(digits.TARGET_DIGITS.index(int(example["label"].bytes_list.value[0])))
        return np.stack(images).astype(np.float32), np.array(labels)

    return read("train"), read("eval")


def _tf_run(backbone_dir: str, train: tuple, evaluation: tuple, plan) -> TrainerRun:
    import tensorflow as tf

    from retrain.components.hub_trainer.model import build_classifier
    from retrain.components.hub_trainer.training import train_classifier

    model = build_classifier(backbone_dir, (8, 8, 1), tf.float32, 5, trainable_backbone=True, seed=plan.seed, dropout=0.1)
    start = time.perf_counter()
    train_classifier(model, (train[0], tf.one_hot(train[1], 5).numpy()), plan, verbose=0)
    seconds = time.perf_counter() - start
    predicted = model.predict(evaluation[0], verbose=0).argmax(-1)
    return TrainerRun(len(train[1]) * plan.epochs / seconds, float((predicted == evaluation[1]).mean()))


def _torch_run(checkpoint: str, train: tuple, evaluation: tuple, plan) -> TrainerRun:
    import torch

    from retrain.components.torch_trainer.model import build_classifier
    from retrain.components.torch_trainer.training import train_classifier

    settings = benchmark_settings(torch_checkpoint=checkpoint, seed=plan.seed, dropout=0.1)
    x, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    model = build_classifier(settings, 5, example=x[:1])
    start = time.perf_counter()
    train_classifier(model, (x, y), plan)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(evaluation[0])).argmax(-1).numpy()
    return TrainerRun(len(train[1]) * plan.epochs / seconds, float((predicted == evaluation[1]).mean()))


_RUNS = {"tf": _tf_run, "torch": _torch_run}


def _run_in_fresh_process(framework: str, arrays: Path, backbone: str, quick: bool, mixed_precision: bool) -> TrainerRun:
    """Runs one trainer in a new Python process (see the module docstring) and reads its result."""
    precision = "mixed" if mixed_precision else "float32"
    command = [sys.executable, "-m", "benchmarks.torch_parity", framework, str(arrays), backbone, "quick" if quick else "full", precision]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{framework} trainer run failed:\n{completed.stderr[-3000:]}")
    return TrainerRun(**json.loads(completed.stdout.strip().splitlines()[-1]))


def _child(framework: str, arrays: str, backbone: str, quick: str, precision: str) -> None:
    """Entry point of one fresh process: loads the arrays, trains once per seed, prints the TrainerRun as JSON."""
    import retrain.pipelines  # noqa: F401

    with np.load(arrays) as data:
        train, evaluation = (data["train_x"], data["train_y"]), (data["eval_x"], data["eval_y"])
    runs = [_RUNS[framework](backbone, train, evaluation, _plan(quick == "quick", seed, precision == "mixed")) for seed in seeds(quick == "quick")]
    accuracies = tuple(run.accuracy for run in runs)
    print(json.dumps(asdict(TrainerRun(runs[0].examples_per_second, float(np.mean(accuracies)), accuracies))))


def _each(run: TrainerRun, quick: bool) -> str:
    return "(seeds " + ", ".join(f"{seed}: {accuracy:.4f}" for seed, accuracy in zip(seeds(quick), run.seed_accuracies)) + ")"


def _gap_standard_error(first: TrainerRun, second: TrainerRun) -> float:
    """Standard error, in points, of the difference between two runs' mean accuracies over their seeds."""
    return 100 * float(np.sqrt(sum(np.var(run.seed_accuracies, ddof=1) / len(run.seed_accuracies) for run in (first, second))))


@functools.lru_cache(maxsize=4)
def measure(quick: bool, mixed_precision: bool = False) -> tuple[TrainerRun, TrainerRun]:
    """(TF run, PyTorch run) on the same backbone weights, data, mode, epochs and batch size (and precision setting)."""
    import retrain.pipelines  # noqa: F401
    from retrain.components.digits_example.prepare import prepare_digits_example

    with tempfile.TemporaryDirectory() as workdir:
        prepared = prepare_digits_example(Path(workdir) / "digits", "image", "label")
        train, evaluation = _data(prepared)
        arrays = Path(workdir) / "arrays.npz"
        np.savez(arrays, train_x=train[0], train_y=train[1], eval_x=evaluation[0], eval_y=evaluation[1])
        tf_run = _run_in_fresh_process("tf", arrays, str(prepared.backbone_dir), quick, mixed_precision)
        torch_run = _run_in_fresh_process("torch", arrays, str(prepared.torch_backbone_path), quick, mixed_precision)
    plan = _plan(quick)
    print(
        f"  fine_tune{', cpu_mixed_precision' if mixed_precision else ''}, {plan.epochs} epochs, {len(train[1])} train / {len(evaluation[1])} eval images, each trainer in a fresh process: "
        f"TF {tf_run.examples_per_second:.0f} examples/s, mean accuracy {tf_run.accuracy:.4f} {_each(tf_run, quick)}; "
        f"PyTorch {torch_run.examples_per_second:.0f} examples/s, mean accuracy {torch_run.accuracy:.4f} {_each(torch_run, quick)}; "
        f"standard error of the gap {_gap_standard_error(tf_run, torch_run):.2f} points over {len(seeds(quick))} seeds",
        file=sys.stderr,
    )
    return tf_run, torch_run


def torch_tf_throughput_ratio(quick: bool) -> Result:
    """PyTorch training examples/s / TF's (goal: within 0.8-1.25)."""
    tf_run, torch_run = measure(quick)
    ratio = torch_run.examples_per_second / tf_run.examples_per_second
    low, high = THROUGHPUT_RANGE
    return Result(ratio=ratio, goal=low, lower_is_better=False, upper_goal=high)


def torch_tf_accuracy_gap(quick: bool) -> Result:
    """|TF eval accuracy - PyTorch eval accuracy| in points (goal <= 2)."""
    tf_run, torch_run = measure(quick)
    return Result(ratio=100 * abs(tf_run.accuracy - torch_run.accuracy), goal=2.0, lower_is_better=True)


def cpu_mixed_precision_accuracy_gap(quick: bool) -> dict[str, Result]:
    """|mean eval accuracy with `cpu_mixed_precision` - without| in points, each trainer over `seeds(quick)` (goal <= 0.5 each).

    On a CPU with native bfloat16 both trainers then train in mixed bfloat16; elsewhere both runs are float32.
    """
    names = ("tf", "torch")
    exact, mixed = measure(quick), measure(quick, True)
    return {
        f"cpu_mixed_precision_accuracy_gap_{name}": Result(
            ratio=100 * abs(mine.accuracy - theirs.accuracy), goal=CPU_MIXED_PRECISION_GAP, lower_is_better=True
        )
        for name, mine, theirs in zip(names, mixed, exact)
    }


if __name__ == "__main__":
    _child(*sys.argv[1:])
