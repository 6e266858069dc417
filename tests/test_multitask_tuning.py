"""Tuning several tasks on one backbone, in both frameworks: a head depth per task (`head_depth__<task>`) next to the shared
width, dropout and learning rate; the same trials for one seed; each trial is the trainer's multi-task model scored on the
tasks' mean validation accuracy; the best depths reach each task's head in both trainers.

Data: the digits with two label columns, `digit` and `size` (tests/two_task_data.py, fixture `two_task_digits`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf
import torch
from tfx.types import standard_artifacts

from retrain.components.digits_example.backbone import EMBEDDING_SIZE
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.digits_example.torch_backbone import DigitsCNN
from retrain.components.hub_trainer.trainer_module import run_fn
from retrain.components.hub_tuner.tuner_module import strategy_oracle, tuner_fn
from retrain.components.label_prep.task_maps import load_task_label_maps
from retrain.components.torch_trainer import executor as trainer_executor
from retrain.components.torch_trainer.export import STATE_DICT_FILE
from retrain.components.torch_trainer.model import build_classifier
from retrain.components.torch_tuner import executor as tuner_executor
from retrain.components.trainer_settings import TrainerSettings, trainer_custom_config, tuner_custom_config
from retrain.components.training_core.tasks import task_heads
from retrain.components.tuning.hyperparameters import BEST_HYPERPARAMETERS_FILE, TUNER_RESULTS_FILE, apply_hyperparameters
from retrain.components.tuning.space import HEAD_WIDTH, TuningConfig, hyperparameters_config, sample_trials, search_space, task_head_depth
from retrain.components.tuning.strategy import TRIAL_EPOCHS
from retrain.pipelines.code_version import components_fingerprint
from retrain.pipelines.trainer_settings import trainer_settings_for
from hub_trainer_data import fn_args
from two_task_data import TASKS, VOCABULARIES, TwoTaskDigits, two_task_config, write_examples_artifact

TUNING = TuningConfig(enabled=True, max_trials=2, trial_epochs=2, head_depth=(0, 2), head_width=(8, 16), learning_rate=(0.005, 0.05))
DEPTHS = [task_head_depth(task) for task in TASKS]
SHARED = [HEAD_WIDTH, "dropout", "learning_rate"]


def _settings(layout: ExampleLayout, **training: object) -> TrainerSettings:
    return trainer_settings_for(two_task_config(layout, validation_fraction=0.25, batch_size=32, **training))


def _artifact(cls: type, uri: Path) -> Any:
    instance = cls()
    instance.uri = str(uri)
    return instance


def _trial_values(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key not in ("trial_id", "score")} for row in sorted(rows, key=lambda row: row["trial_id"])]


@pytest.fixture(scope="module")
def torch_tuned(tmp_path_factory: pytest.TempPathFactory, digits_example: ExampleLayout, two_task_digits: TwoTaskDigits) -> dict[str, Any]:
    """TorchTuner's executor on the two-task digits: its output directory, settings and input artifacts."""
    root = tmp_path_factory.mktemp("torch_two_task_tuning")
    settings = _settings(digits_example, epochs=2)
    inputs = {
        "examples": [_artifact(standard_artifacts.Examples, write_examples_artifact(root, two_task_digits.transformed))],
        "transform_graph": [_artifact(standard_artifacts.TransformGraph, Path(two_task_digits.transformed.transform_output))],
    }
    outputs = {
        "best_hyperparameters": [_artifact(standard_artifacts.HyperParameters, root / "best_hyperparameters")],
        "tuner_results": [_artifact(standard_artifacts.TunerResults, root / "tuner_results")],
    }
    tuner_executor.Executor().Do(inputs, outputs, {"custom_config": json.dumps(tuner_custom_config(settings, "tests", TUNING))})
    return {"root": root, "settings": settings, "inputs": inputs, "best": outputs["best_hyperparameters"]}


def test_one_seed_gives_both_frameworks_the_same_multi_task_trials(torch_tuned: dict[str, Any]) -> None:
    settings = torch_tuned["settings"]
    space = search_space(TUNING, settings.mode, settings.task_labels)
    assert [param.name for param in space] == [*DEPTHS, *SHARED], "a head depth per task, the rest shared"
    torch_trials = _trial_values(json.loads((torch_tuned["root"] / "tuner_results" / TUNER_RESULTS_FILE).read_text()))
    oracle = strategy_oracle(settings, TUNING)  # what the TF tuner's KerasTuner search draws its trials from
    tf_trials = [oracle.populate_space(str(index))["values"] for index in range(oracle.max_trials)]
    assert {values.pop(TRIAL_EPOCHS) for values in tf_trials} == {TUNING.trial_epochs}
    assert torch_trials == tf_trials == sample_trials(space, settings.seed, TUNING.max_trials)


def test_torch_search_over_two_tasks_trains_each_head_at_its_tuned_depth(torch_tuned: dict[str, Any]) -> None:
    results = json.loads((torch_tuned["root"] / "tuner_results" / TUNER_RESULTS_FILE).read_text())
    assert len(results) == TUNING.max_trials and all(0.0 <= row["score"] <= 1.0 for row in results)
    best = json.loads((torch_tuned["root"] / "best_hyperparameters" / BEST_HYPERPARAMETERS_FILE).read_text())
    assert [entry["config"]["name"] for entry in best["space"]] == [*DEPTHS, *SHARED]
    root = torch_tuned["root"]
    model = _artifact(standard_artifacts.Model, root / "model")
    outputs = {"model": [model], "model_run": [_artifact(standard_artifacts.ModelRun, root / "model_run")]}
    custom_config = json.dumps(trainer_custom_config(torch_tuned["settings"], "tests"))
    trainer_executor.Executor().Do({**torch_tuned["inputs"], "hyperparameters": torch_tuned["best"]}, outputs, {"custom_config": custom_config})

    weights = torch.load(str(Path(model.uri) / "Format-Serving" / STATE_DICT_FILE), weights_only=True)
    width = best["values"][HEAD_WIDTH]
    for task in TASKS:
        hidden = [tuple(value.shape) for name, value in weights.items() if name.startswith(f"heads.{task}.hidden.") and name.endswith(".weight")]
        depth = best["values"][task_head_depth(task)]
        assert [shape[0] for shape in hidden] == [width] * depth, task
        assert tuple(weights[f"heads.{task}.logits.weight"].shape) == (len(VOCABULARIES[task]), width if depth else EMBEDDING_SIZE), task


def test_tuned_depths_give_each_torch_head_its_own_layers(digits_example: ExampleLayout, two_task_digits: TwoTaskDigits) -> None:
    values = {**dict(zip(DEPTHS, (2, 0))), HEAD_WIDTH: 8, "dropout": 0.0, "learning_rate": 0.01}
    settings = apply_hyperparameters(_settings(digits_example), hyperparameters_config(search_space(TUNING, "feature_extraction", TASKS), values))
    assert settings.task_hidden_units == ((8, 8), ()) and settings.hidden_units == (8, 8)
    label_maps = load_task_label_maps(two_task_digits.transformed.transform_output, TASKS)
    tasks = task_heads(settings.task_labels, settings.loss_weights, label_maps, settings.task_hidden_units)
    model = build_classifier(settings, 10, example=torch.zeros(1, 8, 8, 1), backbone=DigitsCNN(), tasks=tasks)
    linear = {task: [layer.out_features for layer in model.heads[task].hidden if isinstance(layer, torch.nn.Linear)] for task in TASKS}
    assert linear == {"digit": [8, 8], "size": []}


def test_tf_tuner_fn_searches_a_head_depth_per_task(tmp_path: Path, digits_example: ExampleLayout, two_task_digits: TwoTaskDigits) -> None:
    settings = _settings(digits_example)
    args = fn_args(two_task_digits.transformed, tmp_path, tuner_custom_config(settings, components_fingerprint(), TUNING))
    args.working_dir = str(tmp_path / "tuner")
    args.transform_output = None  # as TFX's Tuner leaves it (only the Trainer's executor sets it)
    result = tuner_fn(args)
    result.tuner.search(**result.fit_kwargs)  # what the TFX Tuner executor does

    trials = list(result.tuner.oracle.trials.values())
    assert [trial.status for trial in trials] == ["COMPLETED"] * TUNING.max_trials
    assert all(0.0 <= trial.score <= 1.0 for trial in trials)
    ran = [dict(trial.hyperparameters.values) for trial in trials]
    assert [values.pop(TRIAL_EPOCHS) for values in ran] == [TUNING.trial_epochs] * TUNING.max_trials
    assert ran == sample_trials(search_space(TUNING, settings.mode, TASKS), settings.seed, TUNING.max_trials)


def test_run_fn_gives_each_task_its_tuned_head_depth(tmp_path: Path, digits_example: ExampleLayout, two_task_digits: TwoTaskDigits) -> None:
    settings = _settings(digits_example, epochs=1)
    values = {**dict(zip(DEPTHS, (2, 0))), HEAD_WIDTH: 8, "dropout": 0.0, "learning_rate": 0.01}
    best = hyperparameters_config(search_space(TUNING, settings.mode, TASKS), values)  # as TFX hands the Tuner's best to run_fn
    args = fn_args(two_task_digits.transformed, tmp_path, trainer_custom_config(settings, components_fingerprint()), hyperparameters=best)
    run_fn(args)

    shapes = {v.name.split(":")[0]: tuple(v.shape) for v in tf.saved_model.load(args.serving_model_dir).variables}
    heads = {task: sorted(name for name in shapes if name.startswith("head_dense_") and name.endswith(f"__{task}/kernel")) for task in TASKS}
    assert heads == {"digit": ["head_dense_0__digit/kernel", "head_dense_1__digit/kernel"], "size": []}
    assert shapes["head_dense_1__digit/kernel"] == (8, 8) and shapes["logits__digit/kernel"] == (8, 10)
    assert shapes["logits__size/kernel"] == (EMBEDDING_SIZE, 2), "the size head sits on the embedding"
