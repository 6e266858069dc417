"""TF Hub text module (converted MiniLM, in-graph WordPiece) vs. the same checkpoint in PyTorch, on CPU.

Both sides get the same sentences, batch size and max length, and include
tokenization in the timed work (TF tokenizes in-graph; PyTorch calls the Hugging
Face fast tokenizer). Rounds alternate between the frameworks and the best round
of each counts, so background load on the shared machine hurts both alike.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from benchmarks.result import Result

MAX_SEQ_LENGTH = 64
BATCH_SIZE = 32
INFERENCE_GOAL = 0.8
FINETUNE_GOAL = 1.0


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


def tf_torch_text_finetune_ratio(quick: bool) -> Result:
    """Fine-tuning examples/s (whole encoder + linear head, Adam): the Hub trainer's model / a plain PyTorch loop."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    import torch

    from retrain.components.hub_trainer.model import BACKBONE_LAYER, build_classifier, compile_classifier
    from retrain.components.training_core.blocks import backbone_blocks
    from retrain.components.training_core.groups import training_groups
    from retrain.components.training_core.plan import ALL_BLOCKS

    texts = _sentences(64 if quick else 256)
    labels = np.arange(len(texts)) % 4
    epochs = 1 if quick else 2
    with tempfile.TemporaryDirectory() as workdir:
        tf_model = build_classifier(str(_convert(Path(workdir))), (), tf.string, 4, trainable_backbone=True, seed=0)
        backbone = tf_model.get_layer(BACKBONE_LAYER)
        backbone_refs = {variable.ref() for variable in backbone.weights}
        head = [variable for variable in tf_model.trainable_weights if variable.ref() not in backbone_refs]
        tf_model.set_training_groups(training_groups(head, backbone_blocks(backbone.trainable_weights), 1e-4, 1.0, ALL_BLOCKS))
        compile_classifier(tf_model, 1e-4)
        x, y = np.array(texts, dtype=object), tf.one_hot(labels, 4).numpy()

        def tf_run() -> None:
            tf_model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, shuffle=False, verbose=0)

        tokenizer, encoder = _torch_encoder()
        torch.manual_seed(0)
        head_layer = torch.nn.Linear(encoder.config.hidden_size, 4)
        optimizer = torch.optim.Adam([*encoder.parameters(), *head_layer.parameters()], lr=1e-4)
        encoder.eval()  # dropout off on both sides: the Hub trainer calls the backbone with training=False (backbone_train_mode: inference)

        def torch_run() -> None:
            for _ in range(epochs):
                for batch, targets in zip(_batches(texts, BATCH_SIZE), _batches(labels, BATCH_SIZE)):
                    optimizer.zero_grad()
                    logits = head_layer(_torch_pooled(tokenizer, encoder, batch))
                    torch.nn.functional.cross_entropy(logits, torch.as_tensor(targets)).backward()
                    optimizer.step()

        rates = _best_rates({"tf": tf_run, **_with_torch_threads(torch_run)}, epochs * len(texts), rounds=1 if quick else 2)
    return _ratio_result("tf_torch_text_finetune_ratio", "examples", rates, ", whole encoder trains", FINETUNE_GOAL)
