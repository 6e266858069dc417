"""The search both trainers share (components/tuning/space.py): trials from a seed, best-trial choice, bad input at config load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retrain.components.tuning.space import (
    HEAD_DEPTH,
    HEAD_WIDTH,
    TrialResult,
    TuningConfig,
    best_trial,
    hyperparameters_config,
    mean_over_tasks,
    sample_trials,
    search_space,
    task_head_depth,
    trial_score,
    tuner_results,
)
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.pipelines.config import ConfigError, config_from_dict
from settings_data import settings as trainer_settings

BOUNDS = {"head_depth": (0, 2), "head_width": (8, 64), "dropout": (0.0, 0.4), "learning_rate": (1e-4, 1e-1), "unfreeze_blocks": (1, 3)}


def test_trials_are_a_function_of_the_seed_and_stay_within_the_bounds() -> None:
    space = search_space(TuningConfig.model_validate(BOUNDS), "incremental")
    trials = sample_trials(space, seed=7, count=40)
    assert trials == sample_trials(space, seed=7, count=40)
    assert trials != sample_trials(space, seed=8, count=40)
    assert sample_trials(space, seed=7, count=3) == trials[:3], "a larger budget extends the list, never reshuffles it"
    for name, (low, high) in BOUNDS.items():
        values = [trial[name] for trial in trials]
        assert all(low <= value <= high for value in values), name
        assert len(set(values)) > 2, f"{name} is searched, not fixed"
    assert all(isinstance(trial[name], int) for trial in trials for name in (HEAD_DEPTH, HEAD_WIDTH, "unfreeze_blocks"))
    assert sum(trial["learning_rate"] < 1e-2 for trial in trials) > len(trials) / 3, "log scale: a third of the draws below 1e-2"


def test_equal_bounds_fix_the_value_and_blocks_are_searched_only_in_incremental() -> None:
    space = search_space(TuningConfig.model_validate({**BOUNDS, "head_depth": (1, 1)}), "fine_tune")
    trials = sample_trials(space, seed=0, count=5)
    assert {trial[HEAD_DEPTH] for trial in trials} == {1}
    assert list(trials[0]) == [HEAD_DEPTH, HEAD_WIDTH, "dropout", "learning_rate"]


def test_several_tasks_search_a_head_depth_each_and_one_task_the_single_head_space() -> None:
    tuning = TuningConfig.model_validate(BOUNDS)
    tasks = ("digit", "size")
    space = search_space(tuning, "incremental", tasks)
    assert [param.name for param in space] == ["head_depth__digit", "head_depth__size", HEAD_WIDTH, "dropout", "learning_rate", "unfreeze_blocks"]
    assert task_head_depth("size") == "head_depth__size"
    trials = sample_trials(space, seed=7, count=40)
    assert trials == sample_trials(space, seed=7, count=40)
    assert any(trial["head_depth__digit"] != trial["head_depth__size"] for trial in trials), "each task's depth is drawn on its own"
    assert search_space(tuning, "incremental", ("digit",)) == search_space(tuning, "incremental"), "one task: the single-head space"


def test_a_multi_task_trial_scores_the_tasks_mean_accuracy() -> None:
    means = mean_over_tasks({"digit": [0.5, 0.75, 0.7], "size": [0.75, 0.75, 0.9]})
    assert means == pytest.approx([0.625, 0.75, 0.8])
    assert trial_score(means, early_stopping=True) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="every task needs a validation accuracy per epoch"):
        mean_over_tasks({"digit": [0.5, 0.75], "size": [0.75]})


def test_tuned_depths_give_each_task_its_own_head_layers() -> None:
    settings = trainer_settings(task_labels=("digit", "size"), label_feature="digit", loss_weights=(1.0, 1.0), hidden_units=(4,))
    values = {"head_depth__digit": 2, "head_depth__size": 0, HEAD_WIDTH: 16, "dropout": 0.1, "learning_rate": 0.01}
    tuned = apply_hyperparameters(settings, hyperparameters_config(search_space(TuningConfig(), "fine_tune", settings.task_labels), values))
    assert tuned.task_hidden_units == ((16, 16), ()) and tuned.hidden_units == (16, 16)
    assert (tuned.dropout, tuned.learning_rate) == (0.1, 0.01)
    assert apply_hyperparameters(settings, None).task_hidden_units == (), "untuned: every head has hidden_units"
    with pytest.raises(ValueError, match=r"^tuned head depths \['head_depth__colour', 'head_depth__digit'\] do not match the tasks"):
        apply_hyperparameters(settings, {"head_depth__digit": 1, "head_depth__colour": 1, HEAD_WIDTH: 8})


def test_the_best_trial_has_the_highest_score_and_ties_go_to_the_earlier_trial() -> None:
    results = [TrialResult(0, {"a": 0}, 0.5, 3), TrialResult(1, {"a": 1}, 0.75, 3), TrialResult(2, {"a": 2}, 0.75, 1)]
    assert best_trial(results).index == 1
    assert [row["trial_id"] for row in tuner_results(results, max_trials=3)] == ["1", "2", "0"]
    assert tuner_results(results, max_trials=3)[0] == {"trial_id": "1", "score": 0.75, "a": 1}
    assert [row["trial_id"] for row in tuner_results(results, max_trials=10)] == ["01", "02", "00"]  # padded as KerasTuner pads
    assert trial_score([0.5, 0.9, 0.7], early_stopping=True) == 0.9 and trial_score([0.5, 0.9, 0.7], early_stopping=False) == 0.7
    with pytest.raises(ValueError, match="no finished trials"):
        best_trial([])


def _config(tmp_path: Path, trainer: str, tuning: dict, validation_fraction: float = 0.2):
    return config_from_dict(
        {
            "trainer": trainer,
            "data": {"path": "data"},
            "backbone": {"handle": "hub", "torch_checkpoint": "backbone.pt"},
            "training": {"validation_fraction": validation_fraction},
            "tuning": tuning,
        },
        tmp_path,
    )


@pytest.mark.parametrize(
    ("tuning", "validation_fraction", "message"),
    [
        ({"enabled": True, "head_width": [256, 32]}, 0.2, r"^tuning\.head_width: expected \[low, high\] with 0 <= low <= high, got \[256, 32\]$"),
        ({"enabled": True, "learning_rate": [0.1, 0.01]}, 0.2, r"^tuning\.learning_rate: expected \[low, high\]"),
        ({"enabled": True}, 0.0, r"^config: tuning\.enabled needs training\.validation_fraction > 0"),
        ({"enabled": True, "strategy": "grid"}, 0.2, r"^tuning\.strategy: unknown strategy 'grid'; expected one of: random, hyperband, bayesian$"),
        (
            {"enabled": True, "strategy": "hyperband"},
            0.2,
            r"^tuning: max_trials 6 ends inside hyperband's first round \(12 trials of 3 epochs at trial_epochs 20\), so no trial would be promoted",
        ),
        (
            {"enabled": True, "strategy": "hyperband", "trial_epochs": 2},
            0.2,
            r"^tuning: hyperband needs trial_epochs >= 3 to promote any trial, got 2$",
        ),
    ],
)
@pytest.mark.parametrize("trainer", ["tf", "torch"])
def test_bad_tuning_input_is_one_line_at_config_load(tmp_path: Path, trainer: str, tuning: dict, validation_fraction: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        _config(tmp_path, trainer, tuning, validation_fraction)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("trainer", ["torch", "both"])
def test_torch_trainers_accept_tuning(tmp_path: Path, trainer: str) -> None:
    assert _config(tmp_path, trainer, {"enabled": True}).tuning.enabled


def test_the_shared_search_imports_neither_tensorflow_nor_torch() -> None:
    code = "import sys, retrain.components.tuning.space, retrain.components.tuning.hyperparameters, retrain.components.tuning.strategy; print(sorted(m for m in ('tensorflow', 'torch', 'keras_tuner') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"
