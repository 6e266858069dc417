"""The model builder and shared preprocessing, on the built-in Hub-format backbone."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.backbone import EMBEDDING_SIZE
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer import features
from retrain.components.hub_trainer.model import BACKBONE_LAYER, build_classifier, input_signature


def _classifier(layout: ExampleLayout, trainable: bool, hidden: tuple[int, ...] = ()) -> tf.keras.Model:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    return build_classifier(str(layout.backbone_dir), shape, dtype, num_classes=5, hidden_units=hidden, dropout=0.2, trainable_backbone=trainable)


def test_classifier_outputs_one_logit_per_class(digits_example: ExampleLayout) -> None:
    model = _classifier(digits_example, trainable=False, hidden=(16,))
    logits = model(np.zeros((3, 8, 8, 1), np.float32))
    assert logits.shape == (3, 5)


def test_feature_extraction_trains_only_the_head(digits_example: ExampleLayout) -> None:
    model = _classifier(digits_example, trainable=False)
    backbone = model.get_layer(BACKBONE_LAYER)
    assert backbone.trainable_weights == []
    assert {w.name.split("/")[0] for w in model.trainable_weights} == {"logits"}
    assert any("block1_conv/kernel" in w.name for w in backbone.weights), "layer names must survive the Hub export"


def test_trainable_backbone_exposes_its_variables(digits_example: ExampleLayout) -> None:
    model = _classifier(digits_example, trainable=True)
    names = {w.name for w in model.get_layer(BACKBONE_LAYER).trainable_weights}
    assert any(name.startswith("block3_conv/kernel") for name in names)


def test_backbone_embeds_images(digits_example: ExampleLayout) -> None:
    import tensorflow_hub as hub

    layer = hub.KerasLayer(str(digits_example.backbone_dir))
    assert layer(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, EMBEDDING_SIZE)


def test_fewer_than_two_classes_is_refused(digits_example: ExampleLayout) -> None:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_classifier(str(digits_example.backbone_dir), shape, dtype, num_classes=1)


def test_decode_images_round_trips_png_and_resizes() -> None:
    image = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8, 1)
    encoded = tf.constant([digits.encode_png(image)] * 2)
    decoded = features.decode_images(encoded, (8, 8), 1).numpy()
    assert decoded.shape == (2, 8, 8, 1)
    np.testing.assert_allclose(decoded[0], image, atol=1 / 255)
    assert features.decode_images(encoded, (16, 12), 3).shape == (2, 16, 12, 3)


def test_to_dense_vector_accepts_sparse_and_dense() -> None:
    dense = tf.constant([[b"a"], [b"b"]])
    sparse = tf.sparse.from_dense(dense)
    assert features.to_dense_vector(dense).numpy().tolist() == [b"a", b"b"]
    assert features.to_dense_vector(sparse).numpy().tolist() == [b"a", b"b"]


def test_few_shot_split_is_deterministic_and_balanced() -> None:
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train_a, eval_a = digits.few_shot_split(target, 20, seed=3)
    train_b, _ = digits.few_shot_split(target, 20, seed=3)
    np.testing.assert_array_equal(train_a.labels, train_b.labels)
    np.testing.assert_array_equal(train_a.images, train_b.images)
    assert np.bincount(train_a.labels, minlength=10)[5:].tolist() == [20] * 5
    assert len(train_a.labels) + len(eval_a.labels) == len(target.labels)


def test_label_ids_follow_the_label_map_and_mark_unknown_labels() -> None:
    from retrain.components.hub_trainer.transform_module import label_ids

    ids = label_ids(tf.constant([b"cat", b" dog ", b"", b"emu"]), ["dog", "cat"])
    assert ids.numpy().tolist() == [1, 0, -1, -1]
    assert label_ids(tf.constant([7, 3], tf.int64), ["3", "7"]).numpy().tolist() == [1, 0]


def test_empty_images_decode_blank_and_have_no_value() -> None:
    encoded = tf.constant([b"", digits.encode_png(np.ones((8, 8, 1), np.float32))])
    decoded = features.decode_images(encoded, (8, 8), 1).numpy()
    assert decoded[0].max() == 0.0 and decoded[1].min() == pytest.approx(1.0)
    assert features.has_value(tf.constant([b"", b"  ", b"x"])).numpy().tolist() == [False, False, True]
