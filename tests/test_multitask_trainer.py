"""Several tasks on one backbone, TF side: Transform writes each task's ids, run_fn trains one head per task on the shared
backbone and exports one model answering every task in one call; warm start expands each task's head on its own.

Data: the sklearn digits with two label columns, `digit` (10 classes) and `size` (`high` for 5-9, else `low`)
(tests/two_task_data.py, fixture `two_task_digits`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
import tensorflow_transform as tft

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer.export import RAW_SIGNATURE, TRANSFORM_SIGNATURE
from retrain.components.hub_trainer.model import BACKBONE_LAYER, ClassWeightedCrossentropy, build_multitask_classifier, input_signature
from retrain.components.hub_trainer.trainer_module import run_fn
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.hub_trainer.warm_start import warm_start
from retrain.components.trainer_settings import trainer_custom_config
from retrain.components.training_core.blocks import backbone_blocks
from retrain.components.training_core.tasks import TaskHead
from retrain.pipelines.code_version import components_fingerprint
from retrain.components.versioned_pusher.evaluation import task_accuracies
from retrain.pipelines.config import EvaluationConfig
from retrain.pipelines.gate import eval_config_for
from retrain.pipelines.report.evaluation import load_evaluation
from retrain.pipelines.run_summary import describe_failure
from retrain.pipelines.trainer_settings import trainer_settings_for
from hub_trainer_data import fn_args
from settings_data import plan as plan_of
from two_task_data import TASKS, VOCABULARIES, TwoTaskDigits, raw_example, serialized, size_of, two_task_config


def test_transform_writes_each_tasks_ids_and_the_main_tasks_as_label_id(two_task_digits: TwoTaskDigits) -> None:
    tft_output = tft.TFTransformOutput(two_task_digits.transformed.transform_output)
    assert set(tft_output.transformed_feature_spec()) == {"model_input", "label_id", "label_id__digit", "label_id__size"}
    record = next(iter(tf.data.TFRecordDataset(two_task_digits.transformed.eval_files)))
    parsed = tf.io.parse_single_example(record, tft_output.transformed_feature_spec())
    digit = int(two_task_digits.eval_digits[0])
    assert int(parsed["label_id"]) == int(parsed["label_id__digit"]) == digit
    assert int(parsed["label_id__size"]) == VOCABULARIES["size"].index(size_of(digit))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, digits_example: ExampleLayout, two_task_digits: TwoTaskDigits) -> str:
    """The Trainer's run_fn on the two-task digits: the exported SavedModel's directory."""
    config = two_task_config(digits_example, epochs=40, learning_rate=0.01, validation_fraction=0.2, early_stopping_patience=10)
    custom_config = trainer_custom_config(trainer_settings_for(config), components_fingerprint())
    args = fn_args(two_task_digits.transformed, tmp_path_factory.mktemp("trainer"), custom_config)
    run_fn(args)
    return args.serving_model_dir


def test_one_shared_backbone_learns_both_tasks_and_answers_both_in_one_call(exported: str, two_task_digits: TwoTaskDigits) -> None:
    model = tf.saved_model.load(exported)
    names = {v.name.split(":")[0] for v in model.variables}
    assert {"logits__digit/kernel", "logits__size/kernel"} <= names and "logits/kernel" not in names
    examples = tf.constant([serialized(raw_example(image)) for image in two_task_digits.eval_images])
    outputs = model.signatures["serving_default"](examples=examples)
    truth = {"digit": [str(d) for d in two_task_digits.eval_digits], "size": [size_of(int(d)) for d in two_task_digits.eval_digits]}
    chance = {"digit": 0.1, "size": 0.5}
    for task in TASKS:
        probabilities = outputs[f"probabilities__{task}"].numpy()
        assert probabilities.shape == (len(examples), len(VOCABULARIES[task]))
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        assert [n.decode() for n in outputs[f"class_names__{task}"].numpy()[0]] == VOCABULARIES[task]
        predicted = [p.decode() for p in outputs[f"predicted_class__{task}"].numpy()]
        assert predicted == [VOCABULARIES[task][i] for i in probabilities.argmax(1)]
        accuracy = float(np.mean(np.array(predicted) == np.array(truth[task])))
        assert accuracy > chance[task] + 0.3, f"task {task}: eval accuracy {accuracy:.3f}"
    # The main task is also answered under the single-task names, so readers of one task keep working.
    np.testing.assert_array_equal(outputs["probabilities"].numpy(), outputs["probabilities__digit"].numpy())
    raw = model.signatures[RAW_SIGNATURE](image=tf.constant([digits.encode_png(i) for i in two_task_digits.eval_images[:4]]))
    np.testing.assert_allclose(raw["probabilities__size"].numpy(), outputs["probabilities__size"].numpy()[:4], atol=1e-5)
    features = model.signatures[TRANSFORM_SIGNATURE](examples=tf.constant([serialized(raw_example(two_task_digits.eval_images[0], 7))]))
    assert (int(features["label_id__digit"][0]), int(features["label_id__size"][0])) == (7, 0)


def _heads(digit_classes: int) -> list[TaskHead]:
    return [TaskHead("digit", digit_classes, 1.0, 0.0, (1.0,) * digit_classes), TaskHead("size", 2, 0.5, 0.0, (1.0, 1.0))]


def test_warm_start_expands_each_tasks_head_on_its_own(tmp_path: Path, digits_example: ExampleLayout) -> None:
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    base = build_multitask_classifier(str(digits_example.backbone_dir), shape, dtype, _heads(10), hidden_units=(8,), seed=1)
    base.save(str(tmp_path / "base"), save_format="tf", include_optimizer=False)
    grown = build_multitask_classifier(str(digits_example.backbone_dir), shape, dtype, _heads(11), hidden_units=(8,), seed=2)
    report = warm_start(grown, str(tmp_path / "base"))
    assert sorted(report.expanded) == ["logits__digit/bias", "logits__digit/kernel"]
    assert {"logits__size/kernel", "logits__size/bias", "head_dense_0__digit/kernel", "head_dense_0__size/kernel"} <= set(report.restored)
    images = digits.load_digits_images().images[:5]
    before, after = base(images, training=False), grown(images, training=False)
    np.testing.assert_allclose(after["size"], before["size"], atol=1e-5)
    np.testing.assert_allclose(after["digit"][:, :10], before["digit"], atol=1e-5)


@pytest.mark.parametrize(("mode", "changed_blocks"), [("feature_extraction", set()), ("incremental", {"block3"})])
def test_training_modes_keep_their_meaning_on_the_shared_backbone(digits_example: ExampleLayout, mode: str, changed_blocks: set[str]) -> None:
    train, _ = digits.few_shot_split(digits.load_digits_images(), 8, seed=0)
    labels = {"digit": tf.one_hot(train.labels, 10).numpy(), "size": tf.one_hot((train.labels < 5).astype(int), 2).numpy()}
    shape, dtype = input_signature("image_classification", (8, 8), 1)
    model = build_multitask_classifier(
        str(digits_example.backbone_dir), shape, dtype, _heads(10), trainable_backbone=mode != "feature_extraction", seed=1
    )
    backbone = model.get_layer(BACKBONE_LAYER)
    before = {w.name: w.numpy().copy() for w in model.weights}
    plan = plan_of(mode=mode, epochs=2, fine_tune_epochs=1, unfreeze_blocks=1, learning_rate=1e-2, validation_fraction=0.25, tasks=tuple(_heads(10)))
    histories = train_classifier(model, (train.images, labels), plan, verbose=0)
    assert [len(h.epoch) for h in histories] == ([2] if mode == "feature_extraction" else [2, 1])
    for history in histories:  # each task's accuracy, and their mean that early stopping watches
        assert {"logits__digit_accuracy", "logits__size_accuracy", "accuracy", "val_accuracy"} <= set(history.history)
    changed = {w.name for w in model.weights if not np.array_equal(before[w.name], w.numpy())}
    blocks = {block.name for block in backbone_blocks(backbone.trainable_weights) if any(v.name in changed for v in block.variables)}
    assert blocks == changed_blocks
    assert {"logits__digit/kernel:0", "logits__size/kernel:0"} <= changed


def test_class_weighted_loss_is_what_keras_class_weight_does_for_one_output() -> None:
    logits = tf.constant([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 0.0]])
    labels = tf.one_hot([0, 2, 1], 3)
    weights = (0.5, 2.0, 1.5)
    expected = tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(labels, logits, sample_weight=[0.5, 1.5, 2.0])
    np.testing.assert_allclose(ClassWeightedCrossentropy(weights, 0.1)(labels, logits), expected, rtol=1e-6)
    unlabelled = tf.zeros([1, 3])  # a record without this task's label adds nothing
    np.testing.assert_allclose(ClassWeightedCrossentropy(weights, 0.1)(unlabelled, logits[:1]), 0.0)


def test_the_gate_checks_every_task_and_blesses_only_when_all_pass(
    tmp_path: Path, digits_example: ExampleLayout, exported: str, two_task_digits: TwoTaskDigits
) -> None:
    data = tmp_path / "eval.tfrecord"
    with tf.io.TFRecordWriter(str(data)) as writer:
        for image, digit in zip(two_task_digits.eval_images, two_task_digits.eval_digits):
            writer.write(serialized(raw_example(image, int(digit))))

    def failures(tasks: dict[str, dict[str, float]]) -> tuple[set[str], dict[str, float]]:
        config = two_task_config(digits_example).model_copy(
            update={"evaluation": EvaluationConfig.model_validate({"min_accuracy": 0.4, "tasks": tasks})}
        )
        eval_config = eval_config_for(config)
        for spec in eval_config.metrics_specs:  # no baseline here: TFX's Evaluator drops the change thresholds the same way
            for metric in spec.metrics:
                metric.threshold.ClearField("change_threshold")
        output = tmp_path / f"evaluation{len(list(tmp_path.iterdir()))}"
        shared = tfma.default_eval_shared_model(eval_saved_model_path=exported, eval_config=eval_config)
        tfma.run_model_analysis(eval_shared_model=shared, eval_config=eval_config, data_location=str(data), output_path=str(output))
        accuracies = {
            key.output_name: value.double_value.value
            for record in tfma.load_metrics(str(output))
            for key, value in ((entry.key, entry.value) for entry in record.metric_keys_and_values)
            if key.name == "sparse_categorical_accuracy"
        }
        result = tfma.load_validation_result(str(output))
        failed = {failure.metric_key.output_name for per_slice in result.metric_validations_per_slice for failure in per_slice.failures}
        assert result.validation_ok == (not failed)
        read = task_accuracies(str(output))  # what the pusher and the run summary read: every task, the main one first
        assert list(read) == list(TASKS) and {task: pair.candidate for task, pair in read.items()} == pytest.approx(accuracies)
        evaluation = load_evaluation(str(output))  # what the report shows: each task's metrics, confusion matrix and thresholds
        assert evaluation.tasks == list(TASKS) and all(model.confusion is not None for model in evaluation.models)
        assert {rule.task for rule in evaluation.thresholds if not rule.passed} == failed
        lines = [describe_failure(failure) for per_slice in result.metric_validations_per_slice for failure in per_slice.failures]
        assert all(re.fullmatch(r"sparse_categorical_accuracy of task \w+ [\d.]+ is below the minimum [\d.]+", line) for line in lines), lines
        return failed, accuracies

    failed, accuracies = failures({})
    assert failed == set() and set(accuracies) == set(TASKS) and min(accuracies.values()) > 0.4
    weaker = min(accuracies, key=accuracies.__getitem__)  # just above what it reached: only this task fails
    failed, _ = failures({weaker: {"min_accuracy": min(1.0, accuracies[weaker] + 1e-3)}})
    assert accuracies[weaker] < 1.0 and failed == {weaker}, "a model is blessed only when every task passes its own threshold"
