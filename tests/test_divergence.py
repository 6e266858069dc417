"""The divergence guard: a phase whose loss rose or that collapsed to one class stops with a hint; healthy runs train on."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
import torch

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer.model import build_classifier, input_signature
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.training_core.divergence import DivergenceGuard, TrainingDiverged
from settings_data import plan as plan_of
from retrain.components.torch_trainer.model import Classifier
from retrain.components.torch_trainer.training import train_classifier as train_torch

PLAN = plan_of(mode="fine_tune", epochs=4, batch_size=16, learning_rate=1e-2, backbone_learning_rate_scale=0.1, seed=3)
EXPLODING = replace(PLAN, learning_rate=30.0, backbone_learning_rate_scale=1.0)


@pytest.fixture(scope="module")
def few_shot() -> tuple[np.ndarray, np.ndarray]:
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train, _ = digits.few_shot_split(target, 10, seed=0)
    return train.images, train.labels - 5


def test_a_rising_loss_stops_the_phase_naming_the_rates() -> None:
    guard = DivergenceGuard("fine_tune", 4, 0.1, 0.01)
    guard.check(1.2, 4)
    guard.check(1.25, 4)  # within the tolerance
    with pytest.raises(
        TrainingDiverged,
        match=r"phase 'fine_tune' after epoch 3 .* rose from 1.2000 .* to 1.5000; lower training.learning_rate \(now 0.1\) or training.backbone_learning_rate_scale \(the backbone trains at 0.01\)",
    ):
        guard.check(1.5, 4)


def test_one_class_stops_only_once_the_loss_stopped_falling() -> None:
    starting = DivergenceGuard("head", 4, 0.01)
    for loss in (1.6, 1.5, 1.4, 1.3):  # a head still predicting one class while it learns
        starting.check(loss, 1)
    collapsed = DivergenceGuard("head", 4, 0.1)
    collapsed.check(1.40, 1)
    collapsed.check(1.39, 1)
    with pytest.raises(TrainingDiverged, match=r"one class .*lower training.learning_rate \(now 0.1\), or set training.divergence_guard: false"):
        collapsed.check(1.395, 1)


def test_a_loss_that_is_not_finite_stops_at_once() -> None:
    with pytest.raises(TrainingDiverged, match="became nan"):
        DivergenceGuard("head", 4, 0.1).check(math.nan, 3)


def _tf_model(layout: ExampleLayout) -> tf.keras.Model:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    return build_classifier(str(layout.backbone_dir), shape, dtype, 5, trainable_backbone=True, dropout=0.1, seed=1)


def test_tf_trainer_stops_a_diverging_phase_and_trains_a_healthy_one(digits_example: ExampleLayout, few_shot: tuple) -> None:
    images, labels = few_shot
    data = (images, tf.one_hot(labels, 5).numpy())
    with pytest.raises(TrainingDiverged, match=r"training.learning_rate \(now 30\)"):
        train_classifier(_tf_model(digits_example), data, EXPLODING, verbose=0)
    for seed in (0, 1):
        histories = train_classifier(_tf_model(digits_example), data, replace(PLAN, seed=seed), verbose=0)
        assert len(histories[0].history["loss"]) == PLAN.epochs
    incremental = train_classifier(_tf_model(digits_example), data, replace(PLAN, mode="incremental", epochs=3, fine_tune_epochs=3), verbose=0)
    assert [len(history.history["loss"]) for history in incremental] == [3, 3]


def _torch_model(layout: ExampleLayout) -> Classifier:
    torch.manual_seed(0)
    return Classifier(torch.jit.load(str(layout.torch_backbone_path)), 128, 5, dropout=0.1)


def test_torch_trainer_stops_a_diverging_phase_and_trains_a_healthy_one(digits_example: ExampleLayout, few_shot: tuple) -> None:
    images, labels = few_shot
    data = (torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
    with pytest.raises(TrainingDiverged, match=r"training.learning_rate \(now 30\)"):
        train_torch(_torch_model(digits_example), data, EXPLODING)
    for seed in (0, 1):
        assert len(train_torch(_torch_model(digits_example), data, replace(PLAN, seed=seed))) == PLAN.epochs
    assert len(train_torch(_torch_model(digits_example), data, replace(PLAN, mode="incremental", epochs=3, fine_tune_epochs=3))) == 6
