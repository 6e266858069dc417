"""Several tasks on one backbone, PyTorch side: TorchTrainer trains one head per task on the shared backbone and exports
every task (TorchScript dict, one ONNX output per task, each task's class names); warm start expands each task's head on
its own; TorchEvaluator gates every task on its own output and blesses only when all pass.

Data: the digits with two label columns, `digit` and `size` (tests/two_task_data.py, fixture `two_task_digits`), the
same transformed records the TF trainer's multi-task test trains on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
import torch
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.digits_example.torch_backbone import DigitsCNN
from retrain.components.torch_evaluator import executor as evaluator_executor
from retrain.components.torch_evaluator.predictions import predict_task_probabilities, predictions_for
from retrain.components.torch_trainer import executor as trainer_executor
from retrain.components.torch_trainer.data import TransformedExamples, load_all
from retrain.components.torch_trainer.export import LABELS_FILE, ONNX_FILE, STATE_DICT_FILE, TASK_LABELS_FILE, TORCHSCRIPT_FILE, export_model
from retrain.components.torch_trainer.model import Classifier, MultiTaskClassifier, TextEncoder
from retrain.components.torch_trainer.task_losses import phase_guards, task_losses, weighted_loss
from retrain.components.torch_trainer.training import train_classifier
from retrain.components.torch_trainer.warm_start import warm_start
from retrain.components.trainer_settings import trainer_custom_config
from retrain.components.training_core.plan import phases
from retrain.components.training_core.tasks import TaskHead, task_label_id
from retrain.pipelines.config import EvaluationConfig
from retrain.pipelines.gate import eval_config_for
from retrain.pipelines.run_summary import describe_failure
from retrain.pipelines.trainer_settings import trainer_settings_for
from settings_data import plan as plan_of, settings as trainer_settings
from torch_records import save_tiny_bert
from two_task_data import TASKS, VOCABULARIES, TwoTaskDigits, size_of, two_task_config, write_examples_artifact

LABEL_FEATURES = [task_label_id(task) for task in TASKS]
SETTINGS = trainer_settings(task_labels=TASKS, label_feature="digit", loss_weights=(1.0, 0.5))


def _artifact(cls: type, uri: Path) -> Any:
    instance = cls()
    instance.uri = str(uri)
    return instance


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory, two_task_digits: TwoTaskDigits) -> Path:
    """The two-task transformed records as an Examples artifact directory, gzipped as TFX's Transform writes them."""
    return write_examples_artifact(tmp_path_factory.mktemp("torch_two_task"), two_task_digits.transformed)


@pytest.fixture(scope="module")
def exported(examples: Path, digits_example: ExampleLayout, two_task_digits: TwoTaskDigits) -> Path:
    """TorchTrainer's executor on the two-task digits (the TF test's settings): the Model artifact's directory."""
    config = two_task_config(digits_example, epochs=40, learning_rate=0.01, validation_fraction=0.2, early_stopping_patience=10)
    custom_config = json.dumps(trainer_custom_config(trainer_settings_for(config), "tests"))
    root = examples.parent
    inputs = {
        "examples": [_artifact(standard_artifacts.Examples, examples)],
        "transform_graph": [_artifact(standard_artifacts.TransformGraph, Path(two_task_digits.transformed.transform_output))],
    }
    outputs = {"model": [_artifact(standard_artifacts.Model, root / "model")], "model_run": [_artifact(standard_artifacts.ModelRun, root / "run")]}
    trainer_executor.Executor().Do(inputs, outputs, {"custom_config": custom_config})
    return root / "model"


def _eval_data(examples: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return load_all(TransformedExamples([str(examples / "Split-eval" / "data.gz")], _feature_spec(), label_features=LABEL_FEATURES))


def _feature_spec() -> dict[str, Any]:
    return {
        "model_input": tf.io.FixedLenFeature([8, 8, 1], tf.float32),
        **{feature: tf.io.FixedLenFeature([], tf.int64) for feature in LABEL_FEATURES},
    }


def test_one_shared_backbone_learns_both_tasks_and_every_export_answers_both(exported: Path, examples: Path) -> None:
    import onnxruntime

    serving = exported / "Format-Serving"
    weights = torch.load(str(serving / STATE_DICT_FILE), weights_only=True)
    assert {"heads.digit.logits.weight", "heads.size.logits.weight"} <= set(weights) and "logits.weight" not in weights
    assert json.loads((serving / LABELS_FILE).read_text()) == VOCABULARIES["digit"], "labels.json stays the main task's"
    assert json.loads((serving / TASK_LABELS_FILE).read_text()) == VOCABULARIES
    images, labels = _eval_data(examples)
    with torch.no_grad():
        scripted = torch.jit.load(str(serving / TORCHSCRIPT_FILE))(images)
    assert list(scripted) == list(TASKS)
    session = onnxruntime.InferenceSession(str(serving / ONNX_FILE), providers=["CPUExecutionProvider"])
    onnx = dict(zip([output.name for output in session.get_outputs()], session.run(None, {"images": images.numpy()})))
    assert list(onnx) == ["probabilities__digit", "probabilities__size"]
    chance = {"digit": 0.1, "size": 0.5}
    for index, task in enumerate(TASKS):
        probabilities = scripted[task].numpy()
        assert probabilities.shape == (len(images), len(VOCABULARIES[task]))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(onnx[f"probabilities__{task}"], probabilities, atol=1e-4)
        accuracy = float((probabilities.argmax(1) == labels[:, index].numpy()).mean())
        assert accuracy > chance[task] + 0.3, f"task {task}: eval accuracy {accuracy:.3f}"


def _heads(digit_classes: int) -> list[TaskHead]:
    return [TaskHead("digit", digit_classes, 1.0, 0.0, (1.0,) * digit_classes), TaskHead("size", 2, 0.5, 0.0, (1.0, 1.0))]


def _two_task_model(digit_classes: int = 10, seed: int = 0) -> MultiTaskClassifier:
    torch.manual_seed(seed)
    return MultiTaskClassifier(DigitsCNN(), 128, _heads(digit_classes), hidden_units=(8,), dropout=0.1)


def test_warm_start_expands_each_tasks_head_on_its_own(tmp_path: Path) -> None:
    images = torch.from_numpy(digits.load_digits_images().images[:5])
    base = _two_task_model(seed=1).eval()
    export_model(base, images[:2], VOCABULARIES, SETTINGS, str(tmp_path / "base"))
    grown = _two_task_model(digit_classes=11, seed=2).eval()
    report = warm_start(grown, str(tmp_path / "base"))
    assert sorted(report.expanded) == ["heads.digit.logits.bias", "heads.digit.logits.weight"] and not report.skipped
    assert {"heads.size.logits.weight", "heads.digit.hidden.0.weight", "heads.size.hidden.0.weight", "backbone.block1_conv.weight"} <= set(
        report.restored
    )
    with torch.no_grad():
        before, after = base(images), grown(images)
    torch.testing.assert_close(after["size"], before["size"])
    torch.testing.assert_close(after["digit"][:, :10], before["digit"])
    torch.manual_seed(3)
    single = Classifier(DigitsCNN(), 128, 10, hidden_units=(8,))
    export_model(single, images[:2], VOCABULARIES["digit"], SETTINGS, str(tmp_path / "single"))
    from_single = warm_start(_two_task_model(seed=4), str(tmp_path / "single"))
    assert not from_single.expanded and all(name.startswith("backbone.") for name in from_single.restored)
    assert {name for name in from_single.skipped if name.startswith("heads.")} == {name for name in grown.state_dict() if name.startswith("heads.")}


@pytest.fixture(scope="module")
def few_two_task_digits() -> tuple[torch.Tensor, torch.Tensor]:
    train, _ = digits.few_shot_split(digits.load_digits_images(), 8, seed=0)
    sizes = [VOCABULARIES["size"].index(size_of(int(digit))) for digit in train.labels]
    return torch.from_numpy(train.images), torch.tensor(np.stack([train.labels, sizes], axis=1), dtype=torch.long)


@pytest.mark.parametrize(
    ("mode", "changed_blocks"), [("feature_extraction", set()), ("incremental", {"block3_conv.weight", "block3_bn.weight", "block3_bn.bias"})]
)
def test_training_modes_keep_their_meaning_on_the_shared_backbone(few_two_task_digits, mode: str, changed_blocks: set[str]) -> None:
    model = _two_task_model()
    before = {name: value.detach().clone() for name, value in model.state_dict().items()}
    plan = plan_of(mode=mode, epochs=2, fine_tune_epochs=1, unfreeze_blocks=1, learning_rate=1e-2, batch_size=16, tasks=tuple(_heads(10)))
    history = train_classifier(model, few_two_task_digits, plan, validation=few_two_task_digits)
    assert [record.phase for record in history] == (["head"] * 2 if mode == "feature_extraction" else ["head", "head", "top_blocks"])
    for record in history:  # each task's accuracy, and their mean that early stopping watches
        assert set(record.task_accuracy) == set(record.val_task_accuracy) == set(TASKS)
        assert record.val_accuracy == pytest.approx(sum(record.val_task_accuracy.values()) / 2)
    changed = {name for name, value in model.state_dict().items() if not torch.equal(before[name], value)}
    assert {name.removeprefix("backbone.") for name in changed if name.startswith("backbone.")} == changed_blocks
    assert {"heads.digit.logits.weight", "heads.size.logits.weight"} <= changed


def test_the_loss_is_each_tasks_smoothed_class_weighted_loss_times_its_weight() -> None:
    heads = [TaskHead("digit", 3, 1.0, 0.1, (0.5, 2.0, 1.5)), TaskHead("size", 2, 0.25, 0.0, (1.0, 3.0))]
    plan = plan_of(tasks=tuple(heads))
    tasks = task_losses(plan, 0, None, torch.device("cpu"))
    logits = [torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]), torch.tensor([[1.0, -1.0], [0.0, 0.5]])]
    labels = [torch.tensor([0, 2]), torch.tensor([1, 1])]
    expected = torch.nn.functional.cross_entropy(logits[0], labels[0], weight=torch.tensor(heads[0].class_weights), label_smoothing=0.1)
    expected = expected + 0.25 * torch.nn.functional.cross_entropy(logits[1], labels[1], weight=torch.tensor(heads[1].class_weights))
    losses = [task.loss_fn(values, truth) for task, values, truth in zip(tasks, logits, labels)]
    torch.testing.assert_close(weighted_loss(losses, tasks), expected)
    guards = phase_guards(plan, phases(plan)[0], tasks)
    assert [(guard.phase, guard.num_classes) for guard in guards] == [("head, task digit", 3), ("head, task size", 2)]
    with pytest.raises(ValueError, match="each task's class weights are in plan.tasks"):
        task_losses(plan, 0, [1.0, 1.0, 1.0], torch.device("cpu"))


def test_a_text_model_exports_every_task_as_torchscript_and_onnx(tmp_path: Path) -> None:
    import onnxruntime

    (tmp_path / "bert").mkdir()
    save_tiny_bert(tmp_path / "bert")
    texts = ["good movie", "great film", "bad movie", "awful film"] * 3
    labels = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]] * 3)
    heads = [TaskHead("sentiment", 2, 1.0, 0.0, (1.0, 1.0)), TaskHead("subject", 2, 1.0, 0.0, (1.0, 1.0))]
    torch.manual_seed(0)
    model = MultiTaskClassifier(TextEncoder(str(tmp_path / "bert")), 16, heads, images=False)
    train_classifier(model, (texts, labels), plan_of(mode="fine_tune", epochs=1, batch_size=4, tasks=tuple(heads)))
    settings = trainer_settings(
        task_type="text_classification", task_labels=("sentiment", "subject"), label_feature="sentiment", loss_weights=(1.0, 1.0)
    )
    export_model(model, texts[:2], {"sentiment": ["positive", "negative"], "subject": ["movie", "film"]}, settings, str(tmp_path / "export"))
    model.eval()
    with torch.no_grad():
        eager = {task: torch.softmax(values, -1).numpy() for task, values in model(texts[:5]).items()}
    scripted = predict_task_probabilities(str(tmp_path / "export"), texts[:5])
    tokens = model.backbone.tokenize(texts[:5])
    session = onnxruntime.InferenceSession(str(tmp_path / "export" / ONNX_FILE), providers=["CPUExecutionProvider"])
    onnx = session.run(
        ["probabilities__sentiment", "probabilities__subject"], {name: tokens[name].numpy() for name in ("input_ids", "attention_mask")}
    )
    for task, from_onnx in zip(("sentiment", "subject"), onnx):
        np.testing.assert_allclose(scripted[task], eager[task], atol=1e-4)
        np.testing.assert_allclose(from_onnx, eager[task], atol=1e-4)


@dataclass(frozen=True)
class _Evaluation:
    """What TorchEvaluator reads: the two-task eval split, its transform graph, the backbones' layout."""

    examples: Path
    data: TwoTaskDigits
    layout: ExampleLayout


@pytest.fixture(scope="module")
def evaluation(examples: Path, two_task_digits: TwoTaskDigits, digits_example: ExampleLayout) -> _Evaluation:
    return _Evaluation(examples, two_task_digits, digits_example)


def _evaluate(root: Path, evaluation: _Evaluation, model: Path, baseline: Path | None, tasks: dict) -> tuple[Any, Path]:
    """TorchEvaluator's executor with the pipeline's gate (min_accuracy 0.4, `tasks`' own thresholds): its validation result and output."""
    config = two_task_config(evaluation.layout).model_copy(
        update={"evaluation": EvaluationConfig.model_validate({"min_accuracy": 0.4, "tasks": tasks})}
    )
    output = root / f"evaluation{len(list(root.glob('evaluation*')))}"
    inputs = {
        "examples": [_artifact(standard_artifacts.Examples, evaluation.examples)],
        "transform_graph": [_artifact(standard_artifacts.TransformGraph, Path(evaluation.data.transformed.transform_output))],
        "model": [_artifact(standard_artifacts.Model, model)],
        **({"baseline_model": [_artifact(standard_artifacts.Model, baseline)]} if baseline else {}),
    }
    outputs = {
        "evaluation": [_artifact(standard_artifacts.ModelEvaluation, output / "evaluation")],
        "blessing": [_artifact(standard_artifacts.ModelBlessing, output / "blessing")],
    }
    (output / "blessing").mkdir(parents=True)
    evaluator_executor.Executor().Do(inputs, outputs, {"eval_config": proto_utils.proto_to_json(eval_config_for(config))})
    return tfma.load_validation_result(str(output / "evaluation")), output


def _accuracies(output: Path) -> dict[tuple[str, str, bool], float]:
    """(model, task, is diff) -> sparse categorical accuracy."""
    return {
        (entry.key.model_name, entry.key.output_name, entry.key.is_diff): entry.value.double_value.value
        for record in tfma.load_metrics(str(output / "evaluation"))
        for entry in record.metric_keys_and_values
        if entry.key.name == "sparse_categorical_accuracy"
    }


def _failed(result: Any) -> set[str]:
    failures = [failure for per_slice in result.metric_validations_per_slice for failure in per_slice.failures]
    lines = [describe_failure(failure) for failure in failures]
    assert all(re.fullmatch(r"sparse_categorical_accuracy of task \w+ [\d.]+ is below the minimum [\d.]+", line) for line in lines), lines
    return {failure.metric_key.output_name for failure in failures}


def test_torch_evaluator_gates_every_task_and_blesses_only_when_all_pass(tmp_path: Path, evaluation: _Evaluation, exported: Path) -> None:
    result, output = _evaluate(tmp_path, evaluation, exported, None, {})
    accuracies = {task: value for (_, task, _), value in _accuracies(output).items()}
    assert result.validation_ok and _failed(result) == set() and set(accuracies) == set(TASKS) and min(accuracies.values()) > 0.4
    assert (output / "blessing" / "BLESSED").exists()
    weaker = min(accuracies, key=accuracies.__getitem__)  # just above what it reached: only this task fails
    result, output = _evaluate(tmp_path, evaluation, exported, None, {weaker: {"min_accuracy": min(1.0, accuracies[weaker] + 1e-3)}})
    assert accuracies[weaker] < 1.0 and not result.validation_ok and _failed(result) == {weaker}
    assert (output / "blessing" / "NOT_BLESSED").exists(), "a model is blessed only when every task passes its own threshold"


def test_torch_evaluator_compares_each_task_with_the_baseline(tmp_path: Path, evaluation: _Evaluation, exported: Path) -> None:
    result, output = _evaluate(tmp_path, evaluation, exported, exported, {})
    accuracies = _accuracies(output)
    for task in TASKS:  # the same model as its own baseline: no change on any task
        assert accuracies[("candidate", task, False)] == pytest.approx(accuracies[("baseline", task, False)])
        assert accuracies[("candidate", task, True)] == pytest.approx(0.0)
    assert result.validation_ok


def test_a_baseline_without_every_task_is_not_compared(tmp_path: Path, examples: Path, exported: Path) -> None:
    images = _eval_data(examples)[0][:8]
    torch.manual_seed(0)
    export_model(Classifier(DigitsCNN(), 128, 10), images[:2], VOCABULARIES["digit"], SETTINGS, str(tmp_path / "single"))
    candidate = str(exported / "Format-Serving")
    probabilities, compared = predictions_for(candidate, str(tmp_path / "single"), images, list(TASKS))
    assert not compared and set(probabilities) == {"probabilities__digit", "probabilities__size"}
    probabilities, compared = predictions_for(candidate, candidate, images, list(TASKS))
    assert compared and set(probabilities) == {f"{prefix}probabilities__{task}" for prefix in ("", "baseline_") for task in TASKS}
