"""Benchmarks of the Hub trainer: cached embeddings, its input pipeline, warm-started retraining.

Each measures both sides in the same process, on the built-in example's pretrained
backbone and the scikit-learn digits (target digits 5-9).
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.result import Result, timed_cli

_EPOCHS = 10
_BATCH_SIZE = 16


def _backbone(workdir: Path) -> tuple[str, Any]:
    """The built-in example's pretrained Hub-format backbone (built offline), and the target digits."""
    import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
    from retrain.components.digits_example import data as digits
    from retrain.components.digits_example.prepare import prepare_digits_example

    layout = prepare_digits_example(workdir / "digits", "image", "label")
    return str(layout.backbone_dir), digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)


def _classifier(backbone: str, trainable: bool = False) -> Any:
    from retrain.components.hub_trainer.model import build_classifier, input_signature

    shape, dtype = input_signature("image_classification", (8, 8), 1)
    return build_classifier(backbone, shape, dtype, 5, dropout=0.1, trainable_backbone=trainable, seed=0)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(5, dtype=np.float32)[labels - 5]


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _mobilenet_sized_backbone(workdir: Path, image_size: int) -> str:
    """A MobileNetV2 (alpha 0.5) image backbone exported in TF Hub format; random weights, as only speed is measured."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    backbone = tf.keras.applications.MobileNetV2(input_shape=(image_size, image_size, 3), alpha=0.5, include_top=False, weights=None, pooling="avg")
    directory = workdir / "mobilenet_v2"
    tf.saved_model.save(backbone, str(directory))
    return str(directory)


def cached_feature_extraction_speedup(quick: bool) -> Result:
    """feature_extraction: Keras fit with the frozen hub.KerasLayer every epoch / the trainer's cached embeddings (goal >= 5).

    Same data (the target digits, upscaled to 96x96 RGB), same head, same 10 epochs
    and batch size, on a MobileNetV2-sized backbone: the backbone forward pass is
    what the cache saves, so it must cost what a real backbone costs. The built-in
    example's 8x8 CNN is so small that per-step overhead dominates both sides.
    """
    import tensorflow as tf

    from retrain.components.hub_trainer.model import build_classifier, compile_classifier
    from retrain.components.hub_trainer.training import train_classifier
    from benchmarks.settings import benchmark_plan

    image_size = 96
    with tempfile.TemporaryDirectory() as workdir:
        _, target = _backbone(Path(workdir))
        backbone = _mobilenet_sized_backbone(Path(workdir), image_size)
        count = 300 if quick else len(target.labels)
        images = tf.image.resize(tf.image.grayscale_to_rgb(tf.constant(target.images[:count])), (image_size, image_size)).numpy()
        labels = _one_hot(target.labels[:count])

        def classifier() -> Any:
            return build_classifier(backbone, (image_size, image_size, 3), tf.float32, 5, dropout=0.1, seed=0)

        naive = classifier()
        compile_classifier(naive, 1e-2)
        naive_s = _timed(lambda: naive.fit(images, labels, epochs=_EPOCHS, batch_size=_BATCH_SIZE, verbose=0))
        plan = benchmark_plan(mode="feature_extraction", epochs=_EPOCHS, batch_size=_BATCH_SIZE, learning_rate=1e-2)
        cached = classifier()
        cached_s = _timed(lambda: train_classifier(cached, (images, labels), plan, verbose=0))
    print(
        f"  cached_feature_extraction_speedup: {count} images {image_size}x{image_size}, {_EPOCHS} epochs, MobileNetV2-sized backbone: "
        f"naive fit {naive_s:.1f}s, cached embeddings {cached_s:.1f}s",
        file=sys.stderr,
    )
    return Result(ratio=naive_s / cached_s, goal=5, lower_is_better=False)


def _transformed_split(workdir: Path) -> tuple[str, list[str]]:
    """Runs the built-in example once; returns its Transform graph and the transformed eval split's files (~850 examples)."""
    config = workdir / "quick.yaml"
    config.write_text("training:\n  epochs: 2\nevaluation:\n  min_accuracy: 0.0\n")
    timed_cli("run", "--output", "out", "--config", str(config), cwd=workdir)
    root = workdir / "out" / "pipeline_root" / "LabelMappedTransform"
    transform_graph = next((root / "transform_graph").iterdir())
    files = sorted(str(path) for path in next((root / "transformed_examples").iterdir()).glob("Split-eval/*"))
    return str(transform_graph), files


def input_pipeline_efficiency(quick: bool) -> Result:
    """Examples/s of model.fit on the trainer's tf.data input pipeline / on the same data preloaded in memory (goal >= 0.9).

    The pipeline reads the real Transform output of a `retrain run` (TFXIO over
    transformed tf.Examples, as TFX's Trainer does); same model (fine_tune: the
    backbone trains) and batch size on both sides.
    """
    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx import v1 as tfx
    from tfx_bsl.public import tfxio

    from retrain.components.hub_trainer.model import compile_classifier
    from retrain.components.hub_trainer.trainer_module import transformed_dataset
    from retrain.components.training_core.features import MODEL_INPUT

    def tfxio_factory(files: list[str], options: Any, schema: Any) -> tf.data.Dataset:
        return tfxio.TFExampleRecord(file_pattern=files, schema=schema).TensorFlowDataset(options)

    epochs = 2 if quick else 5
    with tempfile.TemporaryDirectory() as workdir:
        transform_graph, files = _transformed_split(Path(workdir))
        backbone, _ = _backbone(Path(workdir) / "out" / "examples")  # the run's own (already prepared)
        tft_output = tft.TFTransformOutput(transform_graph)
        accessor = tfx.components.DataAccessor(tf_dataset_factory=tfxio_factory, record_batch_factory=None, data_view_decode_fn=None)
        pipeline = transformed_dataset(files, accessor, tft_output, _BATCH_SIZE, 5, shuffle_seed=0)
        preloaded = [(features[MODEL_INPUT].numpy(), labels.numpy()) for features, labels in pipeline]
        x, y = np.concatenate([b[0] for b in preloaded]), np.concatenate([b[1] for b in preloaded])
        timings = {}
        for name, fit in (
            ("in-memory", lambda model: model.fit(x, y, batch_size=_BATCH_SIZE, epochs=epochs, verbose=0)),
            ("tf.data pipeline", lambda model: model.fit(pipeline, epochs=epochs, verbose=0)),
        ):
            model = _classifier(backbone, trainable=True)
            compile_classifier(model, 1e-3)
            fit(model)  # warm-up: tracing and first-epoch costs are not the input pipeline's
            timings[name] = _timed(functools.partial(fit, model))
    rates = {name: len(y) * epochs / seconds for name, seconds in timings.items()}
    print(
        f"  input_pipeline_efficiency: {len(y)} examples x {epochs} epochs: "
        + ", ".join(f"{name} {rate:.0f} examples/s" for name, rate in rates.items()),
        file=sys.stderr,
    )
    return Result(ratio=rates["tf.data pipeline"] / rates["in-memory"], goal=0.9, lower_is_better=False)


def warm_start_time_ratio(quick: bool) -> Result:
    """Warm-started retraining on one new span: time until the from-scratch eval accuracy is matched / the from-scratch run (goal <= 0.3).

    Span 1 (10 images per class) trains model 1 from the backbone. Span 2 (10 new
    images per class) then trains (a) from the backbone again, `epochs` as configured,
    and (b) warm-started from model 1 (loading its weights is timed), stopping as soon
    as its eval accuracy reaches (a)'s. Building the classifier is the same on both
    sides and not timed, nor are (b)'s per-epoch accuracy checks.
    """
    import tensorflow as tf

    from retrain.components.digits_example import data as digits
    from retrain.components.hub_trainer.training import train_classifier
    from retrain.components.hub_trainer.warm_start import warm_start
    from benchmarks.settings import benchmark_plan
    from retrain.pipelines.config import RetrainConfig

    config = RetrainConfig()
    defaults = config.training
    epochs = 20 if quick else defaults.epochs
    plan = benchmark_plan(
        mode="feature_extraction", epochs=epochs, batch_size=defaults.batch_size, learning_rate=config.effective_rates().learning_rate
    )
    with tempfile.TemporaryDirectory() as workdir:
        backbone, target = _backbone(Path(workdir))
        span1, rest = digits.few_shot_split(target, 10, seed=0)
        span2, evaluation = digits.few_shot_split(rest, 10, seed=1)
        eval_x, eval_y = evaluation.images, _one_hot(evaluation.labels)

        def accuracy(model: Any) -> float:
            return float(np.mean(model.predict(eval_x, batch_size=256, verbose=0).argmax(1) == eval_y.argmax(1)))

        first = _classifier(backbone)
        train_classifier(first, (span1.images, _one_hot(span1.labels)), plan, verbose=0)
        tf.saved_model.save(first, str(Path(workdir) / "model1"))

        scratch, warm = _classifier(backbone), _classifier(backbone)  # building is the same on both sides: not timed
        scratch_s = _timed(lambda: train_classifier(scratch, (span2.images, _one_hot(span2.labels)), plan, verbose=0))
        goal_accuracy = accuracy(scratch)

        eval_seconds = [0.0]
        reached: list[float] = []

        class StopWhenMatched(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                start = time.perf_counter()
                reached.append(accuracy(warm))
                eval_seconds[0] += time.perf_counter() - start
                if reached[-1] >= goal_accuracy:
                    self.model.stop_training = True

        start = time.perf_counter()
        warm_start(warm, str(Path(workdir) / "model1"))
        check = time.perf_counter()
        matched_before_training = accuracy(warm) >= goal_accuracy
        eval_seconds[0] += time.perf_counter() - check
        if not matched_before_training:
            train_classifier(warm, (span2.images, _one_hot(span2.labels)), plan, callbacks=[StopWhenMatched()], verbose=0)
        warm_s = time.perf_counter() - start - eval_seconds[0]
    matched = matched_before_training or (reached and reached[-1] >= goal_accuracy)
    print(
        f"  warm_start_time_ratio: from scratch {scratch_s:.1f}s ({epochs} epochs, eval accuracy {goal_accuracy:.3f}); "
        f"warm start {warm_s:.1f}s ({'matched before training' if matched_before_training else f'{len(reached)} epochs'}"
        f"{'' if matched else ', never matched'})",
        file=sys.stderr,
    )
    return Result(ratio=warm_s / scratch_s if matched else float("inf"), goal=0.3, lower_is_better=True)
