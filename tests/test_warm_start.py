"""Warm start keeps what the previous model learned, including old-class logits when classes are added."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer.model import build_classifier, input_signature
from retrain.components.hub_trainer.warm_start import warm_start


def _classifier(layout: ExampleLayout, classes: int, seed: int) -> tf.keras.Model:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    return build_classifier(str(layout.backbone_dir), shape, dtype, classes, hidden_units=(16,), trainable_backbone=True, seed=seed)


def test_expanded_head_keeps_old_class_logits(tmp_path: Path, digits_example: ExampleLayout) -> None:
    old = _classifier(digits_example, classes=3, seed=1)
    for variable in old.trainable_weights:  # stands in for training: weights unlike a fresh model's
        variable.assign(variable + tf.random.stateless_normal(variable.shape, seed=[3, 4]) * 0.1)
    tf.saved_model.save(old, str(tmp_path / "base"))

    new = _classifier(digits_example, classes=5, seed=2)
    report = warm_start(new, str(tmp_path / "base"))
    images = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(new(images)[:, :3], old(images), rtol=1e-5, atol=1e-6)
    assert sorted(report.expanded) == ["logits/bias", "logits/kernel"]
    assert "head_dense_0/kernel" in report.restored and any(name.startswith("block1_conv") for name in report.restored)


def test_incompatible_variables_are_skipped_not_forced(tmp_path: Path, digits_example: ExampleLayout) -> None:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    tf.saved_model.save(build_classifier(str(digits_example.backbone_dir), shape, dtype, 3, hidden_units=(32,)), str(tmp_path / "base"))
    new = _classifier(digits_example, classes=3, seed=2)
    report = warm_start(new, str(tmp_path / "base"))
    assert "head_dense_0/kernel" in report.skipped and "logits/kernel" in report.skipped
