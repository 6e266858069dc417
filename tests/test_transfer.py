"""Transfer learning really transfers: the pretrained backbone beats the same architecture from scratch."""
from __future__ import annotations

import tensorflow as tf

from components.digits_example import data as digits
from components.digits_example.backbone import build_backbone, classifier_on
from components.digits_example.prepare import TRAIN_IMAGES_PER_CLASS, ExampleLayout
from components.hub_trainer.model import build_classifier, compile_classifier, input_signature

EPOCHS = 80
LEARNING_RATE = 1e-2
SCRATCH_SEEDS = (1, 2, 3)


def _accuracy(model: tf.keras.Model, train: digits.LabelledImages, evaluation: digits.LabelledImages) -> float:
    model.fit(train.images, tf.one_hot(train.labels - 5, 5), epochs=EPOCHS, batch_size=16, verbose=0)
    return float(model.evaluate(evaluation.images, tf.one_hot(evaluation.labels - 5, 5), verbose=0)[1])


def test_pretrained_backbone_beats_training_from_scratch(digits_example: ExampleLayout) -> None:
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train, evaluation = digits.few_shot_split(target, TRAIN_IMAGES_PER_CLASS, seed=0)

    shape, dtype = input_signature("image_classification", (8, 8), 1)
    transfer = build_classifier(str(digits_example.backbone_dir), shape, dtype, num_classes=5, seed=0)
    compile_classifier(transfer, LEARNING_RATE)
    transfer_accuracy = _accuracy(transfer, train, evaluation)

    # Same architecture, same labels, same recipe, every weight trained from random init;
    # several seeds because training a CNN on 50 images from scratch varies a lot.
    scratch_accuracies = [
        _accuracy(classifier_on(build_backbone((8, 8, 1), seed=seed), 5, LEARNING_RATE), train, evaluation)
        for seed in SCRATCH_SEEDS
    ]
    print(f"transfer {transfer_accuracy:.3f}; from scratch {[round(a, 3) for a in scratch_accuracies]}")
    assert transfer_accuracy > max(scratch_accuracies)
    assert transfer_accuracy > sum(scratch_accuracies) / len(scratch_accuracies) + 0.05
    assert transfer_accuracy > 0.8
