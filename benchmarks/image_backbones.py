"""EfficientNet-Lite0 on the built-in emoji example (real RGBA icons, 6 classes).

`efficientnet_transfer_gain`: the PyTorch trainer's library, `fine_tune` with
`backbone_train_mode: training` (a random backbone has no BatchNorm statistics to keep), the same
recipe, data and epochs, once from the ImageNet weights and once from random
initialisation of the same architecture: ratio of eval accuracies (goal >= 1.3).
`tf_torch_image_parity`: the TF and the PyTorch trainer's libraries, same backbone
weights (the named backbone's Hub module and TorchScript copy), `feature_extraction`,
same head, epochs and batch size, one run per seed in SEEDS: |mean TF - mean PyTorch|
eval accuracy in points (goal <= 1). Images are decoded by the pipeline's own decoder
(`retrain.components.hub_trainer.features.decode_images`, what Transform runs).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

from benchmarks.result import Result
from benchmarks.settings import benchmark_plan, benchmark_settings

SEEDS = (42, 0, 1)
LEARNING_RATE = 1e-2  # the head's (the project's default)
BACKBONE_SCALE = 0.1  # fine_tune: the backbone at LEARNING_RATE x BACKBONE_SCALE


@dataclass(frozen=True)
class Size:
    """How big a run is: image side, icons per class, epochs of each comparison."""

    image_side: int
    per_class: int
    fine_tune_epochs: int
    head_epochs: int


FULL = Size(image_side=96, per_class=120, fine_tune_epochs=8, head_epochs=30)
QUICK = Size(image_side=64, per_class=40, fine_tune_epochs=3, head_epochs=15)


def _size(quick: bool) -> Size:
    return QUICK if quick else FULL


@functools.lru_cache(maxsize=2)
def emoji_arrays(quick: bool) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    """((train images, ids), (eval images, ids), class names) of the emoji example, decoded as Transform decodes."""
    import retrain.pipelines  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
    import tensorflow as tf

    from retrain.components.emoji_example.data import emoji_images
    from retrain.components.hub_trainer.features import decode_images

    size = _size(quick)
    images = emoji_images(size.per_class)
    classes = sorted({image.label for image in images})

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = [image for image in images if image.split == name]
        encoded = tf.constant([image.path.read_bytes() for image in chosen])
        pixels = decode_images(encoded, (size.image_side, size.image_side), 3).numpy()
        return pixels, np.array([classes.index(image.label) for image in chosen])

    return split("train"), split("eval"), classes


def _torch_accuracy(
    backbone, train, evaluation, num_classes: int, mode: str, epochs: int, seed: int, backbone_train_mode: str = "inference"
) -> float:
    import torch

    from retrain.components.torch_trainer.model import build_classifier
    from retrain.components.torch_trainer.training import train_classifier

    x, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    settings = benchmark_settings(seed=seed, dropout=0.1)
    model = build_classifier(settings, num_classes, example=x[:1], backbone=backbone)
    plan = benchmark_plan(
        mode=mode, epochs=epochs, batch_size=32, learning_rate=LEARNING_RATE, backbone_learning_rate_scale=BACKBONE_SCALE, seed=seed
    )
    train_classifier(model, (x, y), plan, backbone_train_mode=backbone_train_mode)
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(evaluation[0])).argmax(-1).numpy()
    return float((predicted == evaluation[1]).mean())


def _tf_accuracy(handle: str, train, evaluation, num_classes: int, epochs: int, seed: int) -> float:
    import tensorflow as tf

    from retrain.components.hub_trainer.model import build_classifier
    from retrain.components.hub_trainer.training import train_classifier

    side = train[0].shape[1]
    model = build_classifier(handle, (side, side, 3), tf.float32, num_classes, dropout=0.1, seed=seed)
    plan = benchmark_plan(
        mode="feature_extraction", epochs=epochs, batch_size=32, learning_rate=LEARNING_RATE, backbone_learning_rate_scale=0.1, seed=seed
    )
    train_classifier(model, (train[0], tf.one_hot(train[1], num_classes).numpy()), plan, verbose=0)
    predicted = model.predict(evaluation[0], verbose=0).argmax(-1)
    return float((predicted == evaluation[1]).mean())


def _resolved():
    from retrain.components.backbones.cache import resolve_backbone

    return resolve_backbone("efficientnet-lite0", progress=lambda line: print(line, file=sys.stderr))


def efficientnet_transfer_gain(quick: bool) -> Result:
    """Eval accuracy from the ImageNet weights / from random initialisation, `fine_tune`, same recipe (goal >= 1.3)."""
    import torch

    from retrain.components.backbones.efficientnet_lite import EfficientNetLite0

    train, evaluation, classes = emoji_arrays(quick)
    size = _size(quick)
    torch.manual_seed(0)
    backbones = {"pretrained": torch.jit.load(str(_resolved().torch_checkpoint)), "random init": torch.jit.script(EfficientNetLite0())}
    accuracy = {
        name: _torch_accuracy(backbone, train, evaluation, len(classes), "fine_tune", size.fine_tune_epochs, SEEDS[0], backbone_train_mode="training")
        for name, backbone in backbones.items()
    }
    print(
        f"  fine_tune {size.fine_tune_epochs} epochs (head lr {LEARNING_RATE:g}, backbone x{BACKBONE_SCALE:g}, backbone_train_mode: training), {len(train[1])} train / {len(evaluation[1])} eval icons at "
        f"{size.image_side}px: pretrained {accuracy['pretrained']:.4f}, random init {accuracy['random init']:.4f}",
        file=sys.stderr,
    )
    return Result(ratio=accuracy["pretrained"] / max(accuracy["random init"], 1e-9), goal=1.3, lower_is_better=False)


def tf_torch_image_parity(quick: bool) -> Result:
    """|TF - PyTorch| mean eval accuracy over SEEDS in points, `feature_extraction` on the same weights (goal <= 1)."""
    import torch

    train, evaluation, classes = emoji_arrays(quick)
    size = _size(quick)
    resolved = _resolved()
    tf_runs = [_tf_accuracy(str(resolved.handle), train, evaluation, len(classes), size.head_epochs, seed) for seed in SEEDS]
    torch_runs = [
        _torch_accuracy(torch.jit.load(str(resolved.torch_checkpoint)), train, evaluation, len(classes), "feature_extraction", size.head_epochs, seed)
        for seed in SEEDS
    ]
    print(
        f"  feature_extraction {size.head_epochs} epochs, {len(train[1])} train / {len(evaluation[1])} eval icons at {size.image_side}px, "
        f"seeds {SEEDS}: TF {np.mean(tf_runs):.4f} {[round(run, 4) for run in tf_runs]}, "
        f"PyTorch {np.mean(torch_runs):.4f} {[round(run, 4) for run in torch_runs]}",
        file=sys.stderr,
    )
    return Result(ratio=100 * abs(float(np.mean(tf_runs)) - float(np.mean(torch_runs))), goal=1.0, lower_is_better=True)
