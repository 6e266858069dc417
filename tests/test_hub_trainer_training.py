"""The Hub trainer's training loop: cached embeddings, validation carve-out, early stopping, schedules, augmentation, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer import devices
from retrain.components.hub_trainer.augmentation import augment_images
from retrain.components.hub_trainer.checkpoints import completed_epochs
from retrain.components.hub_trainer.embeddings import embed, head_model
from retrain.components.hub_trainer.model import BACKBONE_LAYER, build_classifier, input_signature
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.training_core.cpu_features import native_bfloat16
from retrain.components.training_core.schedule import learning_rate_factor
from settings_data import plan as plan_of
from retrain.components.hub_trainer.validation import split_validation, validation_mask
from retrain.components.training_core.plan import Augmentation


@pytest.fixture(scope="module")
def few_shot() -> tuple[np.ndarray, np.ndarray]:
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train, _ = digits.few_shot_split(target, 12, seed=0)
    return train.images, tf.one_hot(train.labels - 5, 5).numpy()


def _model(layout: ExampleLayout, mode: str = "feature_extraction", hidden: tuple[int, ...] = ()) -> tf.keras.Model:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    return build_classifier(str(layout.backbone_dir), shape, dtype, 5, hidden_units=hidden, trainable_backbone=mode != "feature_extraction", seed=1)


def _weights(model: tf.keras.Model, layer: str) -> dict[str, np.ndarray]:
    return {w.name: w.numpy().copy() for w in model.get_layer(layer).weights}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[name], b[name]) for name in a)


class _KillAfter(tf.keras.callbacks.Callback):
    """Simulates a trainer killed after `epochs` global epochs (their checkpoints written)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.epochs:
            raise KeyboardInterrupt("killed")


class _WeightsAtStart(tf.keras.callbacks.Callback):
    def __init__(self, model: tf.keras.Model) -> None:
        super().__init__()
        self.full_model, self.weights = model, None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.weights = [w.copy() for w in self.full_model.get_weights()]


def test_cached_feature_extraction_trains_the_exported_head_and_never_the_backbone(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, hidden=(16,))
    backbone_before, head_before = _weights(model, BACKBONE_LAYER), _weights(model, "logits")
    histories = train_classifier(model, few_shot, plan_of(epochs=3, learning_rate=1e-2), verbose=0)
    assert [len(h.epoch) for h in histories] == [3]
    assert _same(backbone_before, _weights(model, BACKBONE_LAYER)), "frozen backbone changed"
    assert not _same(head_before, _weights(model, "logits"))
    # The composed classifier (what is exported) computes exactly head(backbone(x)).
    images = few_shot[0][:6]
    embeddings = model.get_layer(BACKBONE_LAYER)(images, training=False)
    np.testing.assert_allclose(model(images, training=False), head_model(model)(embeddings, training=False), rtol=1e-5, atol=1e-6)


def test_embeddings_are_computed_once_per_example_and_split_by_content(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example)
    x, y = few_shot
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    (train_x, train_y), (val_x, val_y) = embed(model, batches, validation_fraction=0.3, seed=5)
    assert len(train_y) + len(val_y) == len(y) and 0 < len(val_y) < len(y)
    mask = validation_mask(x, 0.3, seed=5).numpy()
    np.testing.assert_allclose(val_x, model.get_layer(BACKBONE_LAYER)(x[mask], training=False), rtol=1e-5, atol=1e-6)


def test_validation_subset_is_deterministic_order_free_and_sized(few_shot: tuple) -> None:
    images = digits.load_digits_images().images
    mask = validation_mask(images, 0.2, seed=1).numpy()
    assert 0.15 < mask.mean() < 0.25
    order = np.random.default_rng(0).permutation(len(images))
    np.testing.assert_array_equal(validation_mask(images[order], 0.2, seed=1).numpy(), mask[order])
    assert not np.array_equal(validation_mask(images, 0.2, seed=2).numpy(), mask)
    texts = tf.constant([f"review {i}" for i in range(2000)])
    assert 0.15 < validation_mask(texts, 0.2, seed=1).numpy().mean() < 0.25

    x, y = few_shot
    train, validation = split_validation(tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=3).batch(5), 0.3, seed=4)
    train_count, validation_count = (sum(len(labels) for _, labels in part) for part in (train, validation))
    assert validation_count == int(validation_mask(x, 0.3, seed=4).numpy().sum()) and train_count + validation_count == len(y)


@pytest.mark.parametrize("mode", ["feature_extraction", "fine_tune"])
def test_early_stopping_watches_the_carved_subset_and_restores_the_best_weights(digits_example: ExampleLayout, few_shot: tuple, mode: str) -> None:
    model = _model(digits_example, mode)
    # A rate this high makes validation accuracy jump around (so early stopping acts), which the divergence guard would stop.
    plan = plan_of(mode=mode, epochs=12, learning_rate=0.3, validation_fraction=0.3, early_stopping_patience=2, seed=3, divergence_guard=False)
    history = train_classifier(model, few_shot, plan, validation=(np.zeros((2, 8, 8, 1), np.float32), np.eye(5)[:2]), verbose=0)[-1]
    scores = history.history["val_accuracy"]
    assert len(scores) < 12, "never stopped early"
    x, y = few_shot
    mask = validation_mask(x, 0.3, seed=3).numpy()
    restored = float(np.mean(model.predict(x[mask], verbose=0).argmax(1) == y[mask].argmax(1)))
    assert restored == pytest.approx(max(scores))


def test_early_stopping_without_a_validation_subset_is_refused(digits_example: ExampleLayout, few_shot: tuple) -> None:
    with pytest.raises(ValueError, match="validation_fraction > 0"):
        train_classifier(_model(digits_example), few_shot, plan_of(early_stopping_patience=2), verbose=0)


@pytest.mark.parametrize("mode", ["feature_extraction", "fine_tune"])
def test_an_empty_validation_subset_is_one_clear_error(digits_example: ExampleLayout, few_shot: tuple, mode: str) -> None:
    x, y = few_shot
    plan = plan_of(mode=mode, epochs=2, validation_fraction=1e-6, early_stopping_patience=1)  # 3 examples: none validates
    with pytest.raises(
        ValueError, match=r"^the validation subset is empty: (none of 3 train examples|no train example) fell in training\.validation_fraction 1e-06"
    ):
        train_classifier(_model(digits_example, mode), (x[:3], y[:3]), plan, verbose=0)


def test_warmup_then_cosine_decay() -> None:
    factors = [learning_rate_factor(position, 0.5, 10, 2.0, "cosine") for position in np.arange(0, 10, 0.5)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(factors[3:], factors[4:])) and factors[-1] < 0.01
    assert learning_rate_factor(7.0, 1.0, 10, 0.0, "constant") == 1.0
    assert learning_rate_factor(0.0, 1.0, 10, 3.0, "constant") == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        learning_rate_factor(0.0, 1.0, 10, 0.0, "step")


def test_schedule_sets_every_group_rate_from_its_own_peak(digits_example: ExampleLayout, few_shot: tuple) -> None:
    model = _model(digits_example, "fine_tune")
    seen: list[dict[str, float]] = []

    class Rates(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            seen.append({name: float(opt.learning_rate.numpy()) for name, opt, _, _ in model.group_optimizers()})

    plan = plan_of(mode="fine_tune", epochs=4, learning_rate=1e-2, backbone_learning_rate_scale=0.1, lr_schedule="cosine", warmup_epochs=1)
    train_classifier(model, few_shot, plan, callbacks=[Rates()], batch_size=20, verbose=0)
    heads = [rates["head"] for rates in seen]
    assert heads[0] == pytest.approx(1e-2, rel=0.01) and heads[-1] < heads[1] < 1e-2
    for rates in seen:
        assert all(rate == pytest.approx(rates["head"] * 0.1, rel=1e-4) for name, rate in rates.items() if name != "head")


def test_augmentation_is_seeded_random_and_off_by_default() -> None:
    images = tf.constant(np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32))
    seed = tf.constant([1, 2], tf.int64)
    assert augment_images(images, seed, Augmentation()) is images
    flip = Augmentation(horizontal_flip=True)
    flipped = augment_images(images, seed, flip).numpy()
    is_flipped = [np.array_equal(flipped[i], images.numpy()[i, :, ::-1]) for i in range(16)]
    assert any(is_flipped) and not all(is_flipped)
    np.testing.assert_array_equal(flipped, augment_images(images, seed, flip).numpy())
    assert not np.array_equal(flipped, augment_images(images, tf.constant([1, 3], tf.int64), flip).numpy())
    both = augment_images(images, seed, Augmentation(crop_fraction=0.25, brightness=0.2)).numpy()
    assert both.shape == images.shape and both.min() >= 0.0 and both.max() <= 1.0 and not np.allclose(both, images)


def test_augmentation_turns_the_cache_off_and_still_leaves_the_frozen_backbone_alone(digits_example: ExampleLayout, few_shot: tuple) -> None:
    plan = plan_of(epochs=2, augmentation=Augmentation(crop_fraction=0.2, brightness=0.1))
    assert not plan.uses_cached_embeddings and plan_of().uses_cached_embeddings
    model = _model(digits_example)
    before = _weights(model, BACKBONE_LAYER)
    train_classifier(model, few_shot, plan, verbose=0)
    assert _same(before, _weights(model, BACKBONE_LAYER))


@pytest.mark.parametrize(
    ("mode", "plan", "kill_after"),
    [
        ("feature_extraction", {"epochs": 5}, 2),
        ("incremental", {"epochs": 2, "fine_tune_epochs": 3, "unfreeze_blocks": 1}, 3),
    ],
)
def test_an_interrupted_run_resumes_from_its_last_checkpoint_and_finishes(
    tmp_path: Path, digits_example: ExampleLayout, few_shot: tuple, mode: str, plan: dict, kill_after: int
) -> None:
    training_plan = plan_of(mode=mode, learning_rate=1e-2, **plan)
    total = training_plan.epochs + (training_plan.fine_tune_epochs if mode == "incremental" else 0)
    checkpoints = str(tmp_path / "checkpoints")
    first = _model(digits_example, mode)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(first, few_shot, training_plan, callbacks=[_KillAfter(kill_after)], verbose=0, checkpoint_dir=checkpoints)
    assert completed_epochs(checkpoints) == kill_after
    weights_when_killed = first.get_weights()

    second = _model(digits_example, mode)  # a fresh process: new model, same backbone, fresh head
    start = _WeightsAtStart(second)
    histories = train_classifier(second, few_shot, training_plan, callbacks=[start], verbose=0, checkpoint_dir=checkpoints)
    assert histories[0].epoch[0] == kill_after, "did not continue after the checkpointed epoch"
    assert histories[-1].epoch[-1] == total - 1
    assert all(np.array_equal(a, b) for a, b in zip(start.weights, weights_when_killed))
    assert completed_epochs(checkpoints) == total


class _TracesPerPhase(tf.keras.callbacks.Callback):
    """Records how many times each phase's training step was traced."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: list[int] = []

    def on_train_end(self, logs: dict | None = None) -> None:
        self.counts.append(self.model.train_tf_function.experimental_get_tracing_count())


def test_each_phase_traces_its_step_once_and_checkpointing_changes_no_draw(tmp_path: Path, digits_example: ExampleLayout, few_shot: tuple) -> None:
    plan = plan_of(mode="incremental", epochs=1, fine_tune_epochs=1, unfreeze_blocks=1, learning_rate=1e-2)
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    weights, traces = [], []
    for checkpoint_dir in (None, str(tmp_path / "checkpoints")):
        model = build_classifier(str(digits_example.backbone_dir), shape, dtype, 5, dropout=0.5, trainable_backbone=True, seed=1)
        counter = _TracesPerPhase()
        train_classifier(model, few_shot, plan, callbacks=[counter], verbose=0, checkpoint_dir=checkpoint_dir)
        weights.append(model.get_weights())
        traces.append(counter.counts)
    assert traces == [[1, 1], [1, 1]], "a phase traced its training step more than once"
    assert all(np.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(*weights)), "dropout drew differently with checkpoints"


class _GraphRewritesDuringFit(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs: dict | None = None) -> None:
        options = tf.config.optimizer.get_experimental_options()
        self.disabled = options.get("disable_meta_optimizer")
        self.bfloat16 = options.get("auto_mixed_precision_onednn_bfloat16")


@pytest.mark.skipif(bool(devices.visible_gpus()), reason="Grappler is left as it is when a GPU is visible")
@pytest.mark.parametrize("cpu_mixed_precision, native", [(False, True), (True, False), (True, True)])
def test_grappler_settings_while_training_on_cpu_are_restored_after(
    digits_example: ExampleLayout, few_shot: tuple, monkeypatch: pytest.MonkeyPatch, cpu_mixed_precision: bool, native: bool
) -> None:
    monkeypatch.setattr(devices, "native_bfloat16", lambda: native)
    model = _model(digits_example, mode="fine_tune")
    seen = _GraphRewritesDuringFit()
    plan = plan_of(mode="fine_tune", epochs=1, learning_rate=1e-2, cpu_mixed_precision=cpu_mixed_precision)
    train_classifier(model, few_shot, plan, callbacks=[seen], verbose=0)
    bfloat16 = cpu_mixed_precision and native
    assert (bool(seen.disabled), bool(seen.bfloat16)) == (not bfloat16, bfloat16)
    options = tf.config.optimizer.get_experimental_options()
    assert not options.get("disable_meta_optimizer") and not options.get("auto_mixed_precision_onednn_bfloat16")


@pytest.mark.skipif(bool(devices.visible_gpus()) or not native_bfloat16(), reason="needs a CPU with native bfloat16 and no GPU")
def test_cpu_mixed_bfloat16_rewrites_matrix_products() -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(64, 256)), tf.float32)
    weights = [tf.Variable(rng.normal(size=(256, 256)) / 16, dtype=tf.float32) for _ in range(3)]

    def forward() -> tf.Tensor:
        hidden = x
        for weight in weights:
            hidden = tf.nn.relu(tf.matmul(hidden, weight))
        return hidden

    exact = tf.function(forward)().numpy()
    with devices.cpu_graph_rewrites(mixed_bfloat16=True):
        mixed = tf.function(forward)().numpy()
    assert mixed.dtype == np.float32
    error = np.abs(mixed - exact).max() / np.abs(exact).max()
    assert 1e-5 < error < 5e-2, f"relative error {error}: float32 would be ~1e-7, bfloat16 ~1e-2"


def test_strategy_and_precision_follow_the_visible_gpus() -> None:
    assert devices.strategy_for([]) is tf.distribute.get_strategy()
    assert devices.strategy_for(["/device:GPU:0"]) is tf.distribute.get_strategy()
    mirrored = devices.strategy_for(["/device:CPU:0", "/device:GPU:0"])
    assert isinstance(mirrored, tf.distribute.MirroredStrategy) and mirrored.num_replicas_in_sync == 2
    assert devices.precision_policy(True, ["/device:GPU:0"]) == "mixed_bfloat16"
    assert devices.precision_policy(True, []) == "float32"
    assert devices.precision_policy(False, ["/device:GPU:0"]) == "float32"


def test_mixed_precision_keeps_the_logits_float32(digits_example: ExampleLayout) -> None:
    tf.keras.mixed_precision.set_global_policy(devices.MIXED_POLICY)
    try:
        model = _model(digits_example, hidden=(8,))
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("head_dense_0").compute_dtype == "bfloat16"
    assert model(np.zeros((2, 8, 8, 1), np.float32)).dtype == tf.float32
