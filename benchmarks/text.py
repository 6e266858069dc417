"""TF Hub text module (converted MiniLM, in-graph WordPiece) vs. the same checkpoint in PyTorch, on CPU.

Both sides get the same sentences, batch size and max length, and include
tokenization in the timed work (TF tokenizes in-graph; PyTorch calls the Hugging
Face fast tokenizer). Rounds alternate between the frameworks and the best round
of each counts, so background load on the shared machine hurts both alike. Inference
is timed in this process after a warm-up; fine-tuning in a fresh process per side, with
first-step costs included (`python -m benchmarks.text tf|torch MODULE_DIR quick|full`), and
each step timed too, so the result shows fixed costs and the per-step rate apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from benchmarks.result import Result

MAX_SEQ_LENGTH = 64
BATCH_SIZE = 32
INFERENCE_GOAL = 0.8
FINETUNE_GOAL = 1.0
REPO_ROOT = Path(__file__).resolve().parent.parent


def _sentences(count: int) -> list[str]:
    """Support messages of the text example, repeated with varied lengths (about 10-40 word pieces)."""
    from retrain.components.text_example import data as text_data

    base = list(text_data.train_messages().texts + text_data.eval_messages().texts)
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(base, size=int(rng.integers(1, 3)))) for _ in range(count)]


def _best_rates(runs: dict[str, Callable[[], None]], items: int, rounds: int) -> dict[str, float]:
    """Items per second of each run's best round; rounds alternate between the runs after one warm-up each."""
    for run in runs.values():
        run()
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: items / seconds for name, seconds in best.items()}


def _batches(items: Sequence, size: int) -> list:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _convert(directory: Path) -> Path:
    from retrain.components.hub_text.export import export_hub_text_module
    from retrain.components.text_example.prepare import minilm_checkpoint_dir

    return export_hub_text_module(minilm_checkpoint_dir(), directory / "minilm", MAX_SEQ_LENGTH)


def _with_torch_threads(run: Callable[[], None]) -> dict[str, Callable[[], None]]:
    """`run` under each PyTorch thread count worth trying (the default, and one)."""
    import torch

    def pinned(threads: int) -> Callable[[], None]:
        def call() -> None:
            torch.set_num_threads(threads)
            run()

        return call

    return {f"torch_{threads}t": pinned(threads) for threads in sorted({1, torch.get_num_threads()})}


def _ratio_result(name: str, unit: str, rates: dict[str, float], detail: str, goal: float) -> Result:
    """TF rate / the best PyTorch rate over the thread settings, with the rates printed to stderr."""
    torch_rate = max(rate for key, rate in rates.items() if key.startswith("torch_"))
    print(
        f"  {name}: TF {rates['tf']:.1f} {unit}/s, PyTorch {torch_rate:.1f} {unit}/s "
        f"(best of {', '.join(f'{key} {rate:.1f}' for key, rate in rates.items() if key != 'tf')}; batch {BATCH_SIZE}, "
        f"max length {MAX_SEQ_LENGTH}{detail})",
        file=sys.stderr,
    )
    return Result(ratio=rates["tf"] / torch_rate, goal=goal, lower_is_better=False)


def _torch_encoder():
    from transformers import AutoModel, AutoTokenizer

    from retrain.components.text_example.prepare import minilm_checkpoint_dir

    checkpoint = str(minilm_checkpoint_dir())
    return AutoTokenizer.from_pretrained(checkpoint, local_files_only=True), AutoModel.from_pretrained(checkpoint, local_files_only=True)


def _torch_pooled(tokenizer, model, texts: list[str]):
    import torch

    encoded = tokenizer(texts, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt")
    hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)


def tf_torch_text_inference_ratio(quick: bool) -> Result:
    """Sentences/s of the converted TF Hub module / the PyTorch model, batch 32, max length 64 (goal >= 0.8)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    import torch

    batches = _batches(_sentences(128 if quick else 512), BATCH_SIZE)
    tokenizer, torch_model = _torch_encoder()
    torch_model.eval()
    with tempfile.TemporaryDirectory() as workdir:
        module = tf.saved_model.load(str(_convert(Path(workdir))))

        def tf_run() -> None:
            for batch in batches:
                module(tf.constant(batch)).numpy()

        def torch_run() -> None:
            with torch.inference_mode():
                for batch in batches:
                    _torch_pooled(tokenizer, torch_model, batch).numpy()

        rates = _best_rates({"tf": tf_run, **_with_torch_threads(torch_run)}, sum(map(len, batches)), rounds=2 if quick else 4)
    return _ratio_result("tf_torch_text_inference_ratio", "sentences", rates, "", INFERENCE_GOAL)


def _finetune_data(quick: bool) -> tuple[list[str], np.ndarray, int]:
    """(sentences, label ids, epochs) of the fine-tuning comparison."""
    texts = _sentences(64 if quick else 256)
    return texts, np.arange(len(texts)) % 4, 1 if quick else 2


StepTimes = list[tuple[float, float]]  # (start, end) perf_counter seconds of each training step


def _tf_finetune(module_dir: str, texts: list[str], labels: np.ndarray, epochs: int) -> Callable[[], StepTimes]:
    """The Hub trainer's model (whole encoder + linear head); the returned call is the trainer's `train_classifier` in `fine_tune`."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from benchmarks.settings import benchmark_plan
    from retrain.components.hub_trainer.model import build_classifier
    from retrain.components.hub_trainer.training import train_classifier

    class StepTimer(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: StepTimes = []

        def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
            self.times.append((self.start, time.perf_counter()))

    model = build_classifier(module_dir, (), tf.string, 4, trainable_backbone=True, seed=0)
    plan = benchmark_plan(
        mode="fine_tune", epochs=epochs, batch_size=BATCH_SIZE, learning_rate=1e-4, backbone_learning_rate_scale=1.0, layer_decay=1.0, seed=0
    )
    x, y = np.array(texts, dtype=object), tf.one_hot(labels, 4).numpy()

    def run() -> StepTimes:
        timer = StepTimer()
        train_classifier(model, (x, y), plan, callbacks=[timer], verbose=0)
        return timer.times

    return run


def _torch_finetune(module_dir: str, texts: list[str], labels: np.ndarray, epochs: int) -> Callable[[], StepTimes]:
    """A plain PyTorch loop over the same checkpoint (Hugging Face tokenizer in the step, Adam); the returned call trains."""
    import torch

    tokenizer, encoder = _torch_encoder()
    torch.manual_seed(0)
    head_layer = torch.nn.Linear(encoder.config.hidden_size, 4)
    encoder.eval()  # dropout off on both sides: the Hub trainer calls the backbone with training=False (backbone_train_mode: inference)

    def run() -> StepTimes:
        times: StepTimes = []
        optimizer = torch.optim.Adam([*encoder.parameters(), *head_layer.parameters()], lr=1e-4)
        for _ in range(epochs):
            for batch, targets in zip(_batches(texts, BATCH_SIZE), _batches(labels, BATCH_SIZE)):
                start = time.perf_counter()
                optimizer.zero_grad()
                logits = head_layer(_torch_pooled(tokenizer, encoder, batch))
                torch.nn.functional.cross_entropy(logits, torch.as_tensor(targets)).backward()
                optimizer.step()
                times.append((start, time.perf_counter()))
        return times

    return run


_FINETUNE_SIDES = {"tf": _tf_finetune, "torch": _torch_finetune}


@dataclass(frozen=True)
class FinetuneRun:
    """One side's fine-tuning in a fresh process: examples/s over the timed part, and where its seconds went."""

    examples_per_second: float
    before_first_step: float  # from the timer's start to the first step (TF: compile, optimizer slots)
    first_step: float  # TF: tracing and the first run of the built functions
    later_step: float  # median of the other steps


def _finetune_child(side: str, module_dir: str, quick: str) -> None:
    """One fresh process: builds the side's model untimed, times compile/optimizer + training, prints its FinetuneRun as JSON."""
    texts, labels, epochs = _finetune_data(quick == "quick")
    train = _FINETUNE_SIDES[side](module_dir, texts, labels, epochs)
    start = time.perf_counter()
    steps = train()
    seconds = time.perf_counter() - start
    durations = [end - begin for begin, end in steps]
    run = FinetuneRun(epochs * len(texts) / seconds, steps[0][0] - start, durations[0], float(np.median(durations[1:])))
    print(json.dumps(asdict(run)))


def _finetune_run(side: str, module_dir: Path, quick: bool) -> FinetuneRun:
    command = [sys.executable, "-m", "benchmarks.text", side, str(module_dir), "quick" if quick else "full"]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{side} fine-tuning failed:\n{completed.stderr[-3000:]}")
    return FinetuneRun(**json.loads(completed.stdout.strip().splitlines()[-1]))


def tf_torch_text_finetune_ratio(quick: bool) -> dict[str, Result]:
    """Fine-tuning examples/s (whole encoder + linear head, Adam): the Hub trainer's model / a plain PyTorch loop.

    Each side trains in a fresh process, timed from building its optimizer to the end of
    training (TF: the trainer's `train_classifier`, i.e. compile, tracing and fit; PyTorch: the optimizer, whose first construction
    imports `torch._dynamo`, and the loop, with PyTorch's default threads); two rounds
    alternate between the sides and each side's fastest run counts. `tf_torch_text_finetune_step_ratio`
    compares that run's median step after the first (PyTorch seconds / TF seconds), the rate a long run approaches.
    """
    runs: dict[str, FinetuneRun] = {}
    with tempfile.TemporaryDirectory() as workdir:
        module_dir = _convert(Path(workdir))
        for _ in range(2):
            for side in ("tf", "torch"):
                run = _finetune_run(side, module_dir, quick)
                if side not in runs or run.examples_per_second > runs[side].examples_per_second:
                    runs[side] = run
    texts, _, epochs = _finetune_data(quick)
    tf_run, torch_run = runs["tf"], runs["torch"]
    print(
        f"  tf_torch_text_finetune_ratio: TF {tf_run.examples_per_second:.1f} examples/s, PyTorch {torch_run.examples_per_second:.1f} examples/s "
        f"({len(texts)} sentences, {epochs} epoch(s), batch {BATCH_SIZE}, max length {MAX_SEQ_LENGTH}, whole encoder trains, "
        "each side in a fresh process, first-step costs included); seconds before the first step / first step / median later step: "
        f"TF {tf_run.before_first_step:.2f} / {tf_run.first_step:.2f} / {tf_run.later_step:.2f}, "
        f"PyTorch {torch_run.before_first_step:.2f} / {torch_run.first_step:.2f} / {torch_run.later_step:.2f}",
        file=sys.stderr,
    )
    return {
        "tf_torch_text_finetune_ratio": Result(
            ratio=tf_run.examples_per_second / torch_run.examples_per_second, goal=FINETUNE_GOAL, lower_is_better=False
        ),
        "tf_torch_text_finetune_step_ratio": Result(ratio=torch_run.later_step / tf_run.later_step, goal=FINETUNE_GOAL, lower_is_better=False),
    }


if __name__ == "__main__":
    _finetune_child(*sys.argv[1:])
