"""Transfer learning really transfers: the pretrained backbone beats the same architecture from scratch."""

from __future__ import annotations

import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.backbone import build_backbone, classifier_on
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer.model import build_classifier, compile_classifier, input_signature

# Where transfer matters: 5 labelled images per class, trained for the same number of steps
# as the example's 10 per class for 80 epochs. (With those 10, training from scratch
# ranges from 0.37 to 0.91 over seeds 1-8 while transfer reaches 0.885: a comparison there
# is too close, and too seed-dependent, to be a reliable test.)
IMAGES_PER_CLASS = 5
EPOCHS = 160
LEARNING_RATE = 1e-2
TRANSFER_SEEDS = (0, 1)
SCRATCH_SEEDS = (1, 2, 3)
MARGIN = 0.2  # measured: transfer 0.79 and 0.80; from scratch 0.40-0.49 (seeds 1-4)


def _accuracy(model: tf.keras.Model, train: digits.LabelledImages, evaluation: digits.LabelledImages) -> float:
    model.fit(train.images, tf.one_hot(train.labels - 5, 5), epochs=EPOCHS, batch_size=16, verbose=0)
    return float(model.evaluate(evaluation.images, tf.one_hot(evaluation.labels - 5, 5), verbose=0)[1])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_pretrained_backbone_beats_training_from_scratch(digits_example: ExampleLayout) -> None:
    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train, evaluation = digits.few_shot_split(target, IMAGES_PER_CLASS, seed=0)

    shape, dtype = input_signature("image_classification", (8, 8), 1)
    transfer_accuracies = []
    for seed in TRANSFER_SEEDS:
        transfer = build_classifier(str(digits_example.backbone_dir), shape, dtype, num_classes=5, seed=seed)
        compile_classifier(transfer, LEARNING_RATE)
        transfer_accuracies.append(_accuracy(transfer, train, evaluation))

    # Same architecture, same labels, same recipe, every weight trained from random init.
    # Results of one seed differ between machines (thread counts change float summation
    # order, and 80 epochs amplify it): compare means over several seeds with a margin,
    # never one model against another.
    scratch_accuracies = [
        _accuracy(classifier_on(build_backbone((8, 8, 1), seed=seed), 5, LEARNING_RATE), train, evaluation) for seed in SCRATCH_SEEDS
    ]
    print(f"transfer {[round(a, 3) for a in transfer_accuracies]}; from scratch {[round(a, 3) for a in scratch_accuracies]}")
    assert _mean(transfer_accuracies) > _mean(scratch_accuracies) + MARGIN
    assert min(transfer_accuracies) > 0.7
