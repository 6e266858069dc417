"""Each trainer against a plain training loop on the same model, data and batch: what the trainer's machinery costs.

`tf_trainer_vs_plain_keras`: the Hub trainer's `train_classifier` (what `run_fn` calls, with
its TensorBoard callback and progress lines) / `model.fit` of the same `build_classifier`
model compiled with one Adam, arrays in memory.
`torch_trainer_vs_plain_loop`: the PyTorch trainer's `train_classifier` (what `train_worker`
calls, with its epoch logger) / a plain loop over the same `build_classifier` model
(zero_grad, forward, cross-entropy, backward, Adam step), PyTorch's default threads.

Two cases each, both `fine_tune` (the whole backbone trains, in inference mode on both
sides, as the trainers' default `backbone_train_mode`): text (the `minilm-l6` backbone
on the text example's sentences) and image (the `efficientnet-lite0` backbone on the
emoji icons). Every side trains in a fresh process of its own and is timed from the
start of training to its end, so each pays its first-step costs (tracing, warm-up, and
building its optimizer: the first `torch.optim` optimizer of a process imports
`torch._dynamo`, about 2.5 s; Keras `compile`); model building and data loading are
untimed. Each case prints its ratio, `NAME_text` and `NAME_image`: trainer examples/s ÷
plain examples/s (goal >= 0.95).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.result import Result
from benchmarks.settings import benchmark_plan, benchmark_settings

GOAL = 0.95
CPU_MIXED_PRECISION_GOAL = 1.1
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
BACKBONE_SCALE = 0.1
CASES = ("text", "image")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _epochs(case: str, quick: bool) -> int:
    return (1 if quick else 2) if case == "text" else (1 if quick else 3)


def _backbone(case: str) -> tuple[str, str]:
    """(TF Hub handle, PyTorch checkpoint) of the case's named backbone (converted once into the shared cache)."""
    from retrain.components.backbones.cache import resolve_backbone

    resolved = resolve_backbone("minilm-l6" if case == "text" else "efficientnet-lite0", progress=lambda line: print(line, file=sys.stderr))
    return str(resolved.handle), str(resolved.torch_checkpoint)


def _write_arrays(case: str, quick: bool, path: Path) -> None:
    """The case's train inputs and label ids, saved for the child processes (texts as a unicode array, no pickling)."""
    if case == "text":
        from benchmarks.text import _sentences

        texts = _sentences(96 if quick else 256)
        np.savez(path, x=np.array(texts, dtype=str), y=np.arange(len(texts)) % 4)
        return
    from benchmarks.image_backbones import emoji_arrays

    (images, labels), _, _ = emoji_arrays(quick)
    np.savez(path, x=images, y=labels)


def _tf_model(case: str, handle: str, x: np.ndarray, num_classes: int):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the WordPiece ops of the converted text module, as the CLI does)

    from retrain.components.hub_trainer.model import build_classifier

    shape, dtype = ((), tf.string) if case == "text" else (x.shape[1:], tf.float32)
    return build_classifier(handle, shape, dtype, num_classes, dropout=0.1, trainable_backbone=True, seed=0)


def _plan(epochs: int, mixed_precision: bool):
    return benchmark_plan(
        mode="fine_tune",
        epochs=epochs,
        batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE,
        backbone_learning_rate_scale=BACKBONE_SCALE,
        seed=0,
        cpu_mixed_precision=mixed_precision,
    )


def _tf_trainer(case: str, handle: str, x: np.ndarray, y: np.ndarray, epochs: int, workdir: str, mixed_precision: bool = False) -> Callable[[], Any]:
    import tensorflow as tf

    from retrain.components.hub_trainer.training import train_classifier

    num_classes = int(y.max()) + 1
    model = _tf_model(case, handle, x, num_classes)
    plan = _plan(epochs, mixed_precision)
    one_hot = tf.one_hot(y, num_classes).numpy()
    board = tf.keras.callbacks.TensorBoard(log_dir=workdir)
    return lambda: train_classifier(model, (x, one_hot), plan, callbacks=[board])


def _plain_keras(case: str, handle: str, x: np.ndarray, y: np.ndarray, epochs: int, workdir: str) -> Callable[[], Any]:
    import tensorflow as tf

    from retrain.components.hub_trainer.autograph import skip_library_conversion

    skip_library_conversion()  # a process-wide AutoGraph rule, not trainer machinery: the baseline gets it too
    num_classes = int(y.max()) + 1
    model = _tf_model(case, handle, x, num_classes)
    one_hot = tf.one_hot(y, num_classes).numpy()

    def run() -> None:
        model.compile(
            optimizer=tf.keras.optimizers.Adam(LEARNING_RATE),
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
            metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        model.fit(x, one_hot, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)

    return run


def _torch_model(case: str, handle: str, checkpoint: str, x: Any, num_classes: int):
    from retrain.components.torch_trainer.model import build_classifier

    task = "text_classification" if case == "text" else "image_classification"
    settings = benchmark_settings(task_type=task, torch_checkpoint=checkpoint, tf_backbone_handle=handle, seed=0, dropout=0.1)
    return settings, build_classifier(settings, num_classes, example=x[:1])


def _torch_inputs(case: str, x: np.ndarray) -> Any:
    import torch

    return [str(text) for text in x] if case == "text" else torch.from_numpy(x)


def _torch_trainer(
    case: str, handle: str, checkpoint: str, x: np.ndarray, y: np.ndarray, epochs: int, workdir: str, mixed_precision: bool = False
) -> Callable[[], Any]:
    import torch

    from retrain.components.torch_trainer.training import train_classifier
    from retrain.components.torch_trainer.worker import EpochLogger

    inputs, labels = _torch_inputs(case, x), torch.from_numpy(y)
    settings, model = _torch_model(case, handle, checkpoint, inputs, int(y.max()) + 1)
    plan = _plan(epochs, mixed_precision)
    logger = EpochLogger(workdir)
    return lambda: train_classifier(model, (inputs, labels), plan, backbone_train_mode=settings.backbone_train_mode, on_epoch_end=logger)


def _plain_torch(case: str, handle: str, checkpoint: str, x: np.ndarray, y: np.ndarray, epochs: int, workdir: str) -> Callable[[], Any]:
    import torch

    from retrain.components.torch_trainer.data import take

    inputs, labels = _torch_inputs(case, x), torch.from_numpy(y)
    _, model = _torch_model(case, handle, checkpoint, inputs, int(y.max()) + 1)
    generator = torch.Generator().manual_seed(0)

    def run() -> None:
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        model.train()
        model.backbone.eval()  # the trainers' default backbone_train_mode: inference
        for _ in range(epochs):
            for index in torch.randperm(len(labels), generator=generator).split(BATCH_SIZE):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(take(inputs, index)), labels[index]).backward()
                optimizer.step()

    return run


def _tf_side(builder: Callable[..., Callable[[], Any]]) -> Callable[..., Callable[[], Any]]:
    def build(case: str, handle: str, checkpoint: str, x: np.ndarray, y: np.ndarray, epochs: int, workdir: str) -> Callable[[], Any]:
        return builder(case, handle, x, y, epochs, workdir)

    return build


SIDES: dict[str, Callable[..., Callable[[], Any]]] = {
    "tf_trainer": _tf_side(_tf_trainer),
    "tf_trainer_mixed": _tf_side(functools.partial(_tf_trainer, mixed_precision=True)),
    "torch_trainer_mixed": functools.partial(_torch_trainer, mixed_precision=True),
    "plain_keras": _tf_side(_plain_keras),
    "torch_trainer": _torch_trainer,
    "plain_torch": _plain_torch,
}


def _child(side: str, case: str, arrays: str, handle: str, checkpoint: str, quick: str) -> None:
    """One fresh process: builds the side's model untimed, times its training, prints {"examples_per_second": ...}."""
    import retrain.pipelines  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)

    with np.load(arrays) as data:
        x, y = data["x"], data["y"]
    epochs = _epochs(case, quick == "quick")
    with tempfile.TemporaryDirectory() as workdir:
        train = SIDES[side](case, handle, checkpoint, x, y, epochs, workdir)
        start = time.perf_counter()
        train()
        seconds = time.perf_counter() - start
    print(json.dumps({"examples_per_second": len(y) * epochs / seconds}))


def _rate_in_fresh_process(side: str, case: str, arrays: Path, backbone: tuple[str, str], quick: bool) -> float:
    command = [sys.executable, "-m", "benchmarks.trainer_overhead", side, case, str(arrays), *backbone, "quick" if quick else "full"]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{side} ({case}) failed:\n{completed.stderr[-3000:]}")
    return float(json.loads(completed.stdout.strip().splitlines()[-1])["examples_per_second"])


@functools.lru_cache(maxsize=4)
def _ratios(trainer: str, plain: str, quick: bool) -> dict[str, tuple[float, float]]:
    """(trainer examples/s, plain examples/s) of every case, each side in a fresh process."""
    rates = {}
    with tempfile.TemporaryDirectory() as workdir:
        for case in CASES:
            arrays = Path(workdir) / f"{case}.npz"
            _write_arrays(case, quick, arrays)
            backbone = _backbone(case)
            rates[case] = (
                _rate_in_fresh_process(trainer, case, arrays, backbone, quick),
                _rate_in_fresh_process(plain, case, arrays, backbone, quick),
            )
    return rates


def _results(
    name: str, trainer: str, plain: str, quick: bool, goal: float = GOAL, labels: tuple[str, str] = ("trainer", "plain")
) -> dict[str, Result]:
    """`NAME_text` and `NAME_image`: side `trainer`'s examples/s / side `plain`'s, with both rates printed to stderr."""
    rates = _ratios(trainer, plain, quick)
    print(
        f"  {name}: "
        + "; ".join(
            f"{case} fine_tune ({_epochs(case, quick)} epochs, batch {BATCH_SIZE}) {labels[0]} {mine:.1f} examples/s, "
            f"{labels[1]} {theirs:.1f} (ratio {mine / theirs:.3f})"
            for case, (mine, theirs) in rates.items()
        ),
        file=sys.stderr,
    )
    return {f"{name}_{case}": Result(ratio=mine / theirs, goal=goal, lower_is_better=False) for case, (mine, theirs) in rates.items()}


def tf_trainer_vs_plain_keras(quick: bool) -> dict[str, Result]:
    """The Hub trainer's training examples/s / a plain tf.keras fit of the same model, text and image fine-tune (goal >= 0.95 each)."""
    return _results("tf_trainer_vs_plain_keras", "tf_trainer", "plain_keras", quick)


def torch_trainer_vs_plain_loop(quick: bool) -> dict[str, Result]:
    """The PyTorch trainer's training examples/s / a plain PyTorch loop on the same model, text and image fine-tune (goal >= 0.95 each)."""
    return _results("torch_trainer_vs_plain_loop", "torch_trainer", "plain_torch", quick)


def cpu_mixed_precision_speedup(quick: bool) -> dict[str, Result]:
    """Each trainer's examples/s with `cpu_mixed_precision` / without, text and image fine-tune (goal >= 1.1 each).

    Meaningful on a CPU with native bfloat16 (`training_core/cpu_features.py`); elsewhere both sides train in float32.
    """
    from retrain.components.training_core.cpu_features import native_bfloat16

    if not native_bfloat16():
        print("  cpu_mixed_precision_speedup: this CPU has no native bfloat16, both sides train in float32", file=sys.stderr)
    labels = ("mixed", "float32")
    return {
        **_results("cpu_mixed_precision_speedup_tf", "tf_trainer_mixed", "tf_trainer", quick, CPU_MIXED_PRECISION_GOAL, labels),
        **_results("cpu_mixed_precision_speedup_torch", "torch_trainer_mixed", "torch_trainer", quick, CPU_MIXED_PRECISION_GOAL, labels),
    }


if __name__ == "__main__":
    _child(*sys.argv[1:])
