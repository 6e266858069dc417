"""Where training runs: a distribution strategy for the visible GPUs, the precision policy, and CPU graph rewrites."""

from __future__ import annotations

import contextlib
from typing import Iterator

import tensorflow as tf

from retrain.components.training_core.cpu_features import native_bfloat16

MIXED_POLICY = "mixed_bfloat16"


def visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow can see."""
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def strategy_for(gpus: list[str]) -> tf.distribute.Strategy:
    """MirroredStrategy over the GPUs when there are several, else the default (single-device) strategy."""
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(devices=gpus)
    return tf.distribute.get_strategy()


def precision_policy(mixed_precision: bool, gpus: list[str]) -> str:
    """The Keras policy: `mixed_bfloat16` when asked for and a GPU is visible, else `float32` (CPUs: `cpu_graph_rewrites`).

    bfloat16 keeps float32's range, so no loss scaling is needed with the trainer's
    per-group optimizers. The classifier's logits stay float32 (see `model.py`).
    """
    return MIXED_POLICY if mixed_precision and gpus else "float32"


def cpu_mixed_bfloat16(cpu_mixed_precision: bool, gpus: list[str]) -> bool:
    """True when CPU mixed precision is asked for, no GPU is visible and the CPU computes bfloat16 natively."""
    return cpu_mixed_precision and not gpus and native_bfloat16()


@contextlib.contextmanager
def cpu_graph_rewrites(mixed_bfloat16: bool = False) -> Iterator[None]:
    """Grappler's settings while training on CPU (left as they are when a GPU is visible); restored after.

    Without mixed precision Grappler is off: it costs ~1 s when each training function
    is first run and made no step faster (MiniLM fine-tune first run to end: +7%
    examples/s at 512 sentences, +14% at 64; EfficientNet-Lite0 unchanged). With
    `mixed_bfloat16` it stays on and its oneDNN bfloat16 pass rewrites the training
    graphs, the Hub module's restored functions included: matrix products and
    convolutions run in bfloat16 and so do the elementwise ops, softmax and reductions
    fed by them; exp, pow and the softmax cross-entropy stay float32 (the deny list of
    `AutoMixedPrecisionListsMkl` in TensorFlow's grappler/optimizers/auto_mixed_precision_lists.h),
    as do the variables and the optimizer's update. On GPUs the layout and fusion passes
    matter, so nothing is changed there.
    """
    if visible_gpus():
        yield
        return
    options = {"auto_mixed_precision_onednn_bfloat16": True} if mixed_bfloat16 else {"disable_meta_optimizer": True}
    previous = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options(options)
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({name: previous.get(name, False) for name in options})
