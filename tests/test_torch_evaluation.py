"""The PyTorch gate: TFMA metrics on written predictions, the pipeline's thresholds, per-framework baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tfx.types import standard_artifacts

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.resolvers.baseline import latest_blessed_other_than
from retrain.components.branches import FRAMEWORK_PROPERTY, PYTORCH
from retrain.components.torch_evaluator.gate import evaluate_predictions
from retrain.components.torch_evaluator.predictions import prediction_keys, write_predictions
from retrain.components.resolvers.framework import _only, framework_of
from retrain.components.versioned_pusher.evaluation import task_accuracies
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.pipeline import eval_config_for
from retrain.pipelines.report.evaluation import load_evaluation
from retrain.pipelines.run_summary import _validation_failures

CLASSES = 3


def _probabilities(labels: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    """Confident predictions, right for the first `accuracy` share of the records."""
    rng = np.random.RandomState(seed)
    predicted = labels.copy()
    wrong = np.arange(len(labels)) >= int(accuracy * len(labels))
    predicted[wrong] = (labels[wrong] + 1 + rng.randint(0, CLASSES - 1, wrong.sum())) % CLASSES
    return np.eye(CLASSES)[predicted] * 0.9 + 0.1 / CLASSES


def _gate(tmp_path: Path, candidate: float, baseline: float | None, min_accuracy: float = 0.8):
    labels = np.random.RandomState(0).randint(0, CLASSES, 200)
    keys = prediction_keys(baseline is not None)
    probabilities = {keys["candidate" if baseline is not None else ""]: _probabilities(labels, candidate, 1)}
    if baseline is not None:
        probabilities[keys["baseline"]] = _probabilities(labels, baseline, 2)
    predictions = str(tmp_path / "predictions" / "p.tfrecord")
    write_predictions(predictions, {"label_id": labels.tolist()}, probabilities)
    gate = eval_config_for(RetrainConfig.model_validate({"evaluation": {"min_accuracy": min_accuracy}}))
    return evaluate_predictions(predictions, gate, keys, str(tmp_path))


def test_first_model_is_gated_by_the_value_threshold_only(tmp_path: Path) -> None:
    result = _gate(tmp_path, candidate=0.9, baseline=None)
    assert result.validation_ok
    assert task_accuracies(str(tmp_path)) == {"": (pytest.approx(0.9), None)}


def test_worse_candidate_fails_the_change_threshold_and_reads_like_the_evaluator(tmp_path: Path) -> None:
    result = _gate(tmp_path, candidate=0.85, baseline=0.95)
    assert not result.validation_ok
    assert task_accuracies(str(tmp_path)) == {"": (pytest.approx(0.85), pytest.approx(0.95))}
    assert _validation_failures(str(tmp_path)) == [
        "sparse_categorical_accuracy changed by -0.1000 vs. the baseline; the gate allows at least -0.0000"
    ]
    evaluation = load_evaluation(str(tmp_path))
    assert [model.name for model in evaluation.models] == ["candidate", "baseline"]
    assert evaluation.candidates[0].diffs["sparse_categorical_accuracy"] == pytest.approx(-0.1)
    assert evaluation.candidates[0].confusion.counts.sum() == 200
    assert [(t.condition, t.passed) for t in evaluation.thresholds] == [
        (">= 0.8000 (minimum)", True),
        ("change vs. baseline >= -0.0000", False),
    ]


def test_better_candidate_passes(tmp_path: Path) -> None:
    assert _gate(tmp_path, candidate=0.95, baseline=0.9).validation_ok


def _model(model_id: int, framework: str | None) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = model_id
    if framework:
        model.set_string_custom_property(FRAMEWORK_PROPERTY, framework)
    return model


def _blessing(model_id: int) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = 100 + model_id
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("current_model_id", model_id)
    return blessing


def test_baselines_and_warm_starts_stay_within_their_framework() -> None:
    models = [_model(1, None), _model(2, PYTORCH), _model(3, None), _model(4, PYTORCH)]
    blessings = [_blessing(model.id) for model in models[:3]]  # model 4 was not blessed
    assert [framework_of(model) for model in models] == ["tensorflow", "pytorch", "tensorflow", "pytorch"]
    for framework, expected in (("pytorch", 2), ("tensorflow", 3)):
        candidates = _only(framework, {"model": models})["model"]
        model, _ = latest_blessed_other_than(candidates, blessings, {4})
        assert model.id == expected
