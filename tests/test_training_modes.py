"""Training modes on the real Hub-format backbone: exactly the right variables change."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer.model import BACKBONE_LAYER, build_classifier, compile_classifier, input_signature
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.training_core.blocks import backbone_blocks
from retrain.components.training_core.groups import training_groups
from retrain.components.training_core.plan import phases
from settings_data import plan as plan_of


@pytest.fixture(scope="module")
def few_shot() -> tuple[np.ndarray, np.ndarray]:
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train, _ = digits.few_shot_split(target, 8, seed=0)
    return train.images, tf.one_hot(train.labels - 5, 5).numpy()


def _model(layout: ExampleLayout, mode: str, backbone_train_mode: str = "inference") -> tf.keras.Model:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    return build_classifier(
        str(layout.backbone_dir), shape, dtype, 5, trainable_backbone=mode != "feature_extraction", backbone_train_mode=backbone_train_mode, seed=1
    )


def _snapshot(model: tf.keras.Model) -> dict[str, np.ndarray]:
    return {w.name: w.numpy().copy() for w in model.get_layer(BACKBONE_LAYER).weights}


def _changed(before: dict[str, np.ndarray], model: tf.keras.Model) -> set[str]:
    return {w.name for w in model.get_layer(BACKBONE_LAYER).weights if not np.array_equal(before[w.name], w.numpy())}


def _train(model: tf.keras.Model, data: tuple, **plan: object) -> list:
    return train_classifier(model, data, plan_of(learning_rate=1e-2, **plan), batch_size=16, verbose=0)


def test_blocks_follow_layer_names_bottom_to_top(digits_example: ExampleLayout) -> None:
    model = _model(digits_example, "fine_tune")
    blocks = backbone_blocks(model.get_layer(BACKBONE_LAYER).trainable_weights)
    assert [block.name for block in blocks] == ["block1", "block2", "block3"]
    assert all(f"{block.name}_" in v.name for block in blocks for v in block.variables)


def test_feature_extraction_leaves_the_backbone_bit_for_bit(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, "feature_extraction")
    before, head_before = _snapshot(model), model.get_layer("logits").kernel.numpy().copy()
    _train(model, few_shot, mode="feature_extraction", epochs=2)
    assert _changed(before, model) == set()
    assert not np.array_equal(head_before, model.get_layer("logits").kernel.numpy())


def test_fine_tune_changes_every_trainable_backbone_variable_but_not_frozen_bn_stats(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, "fine_tune")
    before = _snapshot(model)
    _train(model, few_shot, mode="fine_tune", epochs=2)
    trainable = {w.name for w in model.get_layer(BACKBONE_LAYER).trainable_weights}
    assert _changed(before, model) == trainable
    assert not any("moving_" in name for name in _changed(before, model))


def test_batchnorm_train_policy_updates_statistics(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, "fine_tune", backbone_train_mode="training")
    before = _snapshot(model)
    _train(model, few_shot, mode="fine_tune", epochs=1)
    assert any("moving_mean" in name for name in _changed(before, model))


def test_incremental_changes_exactly_the_top_blocks(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, "incremental")
    before = _snapshot(model)
    histories = _train(model, few_shot, mode="incremental", epochs=1, fine_tune_epochs=1, unfreeze_blocks=2)
    assert len(histories) == 2
    changed = _changed(before, model)
    trainable = {w.name for w in model.get_layer(BACKBONE_LAYER).trainable_weights}
    assert changed == {name for name in trainable if name.startswith(("block2_", "block3_"))}
    assert changed and not any(name.startswith("block1_") for name in changed)


def test_layer_wise_learning_rates() -> None:
    blocks = backbone_blocks([tf.Variable(1.0, name=f"block{i}_conv/kernel") for i in (1, 2, 3)])
    groups = training_groups([tf.Variable(0.0, name="logits/kernel")], blocks, 1e-2, 0.1, unfreeze_blocks=2, layer_decay=0.5)
    assert [(g.name, g.learning_rate) for g in groups] == [("head", 1e-2), ("block3", pytest.approx(1e-3)), ("block2", pytest.approx(5e-4))]
    everything = training_groups([], blocks, 1e-2, 0.1, unfreeze_blocks=-1)
    assert [g.name for g in everything] == ["head", "block3", "block2", "block1"]


def test_modes_map_to_phases() -> None:
    assert [p.name for p in phases(plan_of(mode="incremental"))] == ["head", "top_blocks"]
    with pytest.raises(ValueError, match="unknown training mode 'everything'"):
        phases(plan_of(mode="everything"))


def test_class_weights_and_label_smoothing_reach_the_loss(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, "feature_extraction")
    weightless = _train(model, few_shot, mode="feature_extraction", epochs=1)
    zero_weights = train_classifier(model, few_shot, plan_of(epochs=1), class_weight={i: 0.0 for i in range(5)}, batch_size=16, verbose=0)
    assert weightless[0].history["loss"][0] > 0.0
    assert zero_weights[0].history["loss"][0] == 0.0

    x, y = few_shot
    logits = model.predict(x, verbose=0)
    plain = tf.keras.losses.CategoricalCrossentropy(from_logits=True)(y, logits).numpy()
    smoothed_targets = y * 0.8 + 0.2 / 5
    expected = tf.keras.losses.CategoricalCrossentropy(from_logits=True)(smoothed_targets, logits).numpy()
    compile_classifier(model, 1e-3, label_smoothing=0.2)
    smoothed = model.evaluate(x, y, batch_size=len(x), verbose=0)[0]
    assert smoothed == pytest.approx(expected, rel=1e-4)
    assert smoothed != pytest.approx(plain, rel=1e-4)
