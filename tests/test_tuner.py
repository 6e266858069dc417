"""Tuning: KerasTuner search through the TFX Tuner's entry point on transformed digits, and its pipeline wiring for both trainers."""

from __future__ import annotations

from pathlib import Path

import keras_tuner
import pytest
from tfx import v1 as tfx

from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_tuner.tuner_module import search_space, tuner_fn
from retrain.components.torch_tuner.component import TorchTuner
from retrain.components.torch_trainer.component import TorchTrainer
from retrain.components.trainer_settings import trainer_settings_from
from retrain.components.tuning import space as tuning_space
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.components.tuning.space import HEAD_DEPTH, HEAD_WIDTH, TUNING_KEY, TuningConfig
from retrain.components.tuning.strategy import TRIAL_EPOCHS
from hub_trainer_data import fn_args, trainer_settings, transformed_digits
from retrain.pipelines.config import config_from_dict
from retrain.pipelines.paths import resolve_run_paths
from retrain.pipelines.pipeline import create_pipeline

BUDGETS = {"random": {"max_trials": 2, "trial_epochs": 2}, "hyperband": {"max_trials": 4, "trial_epochs": 3}}  # hyperband: one promotion
TUNING = {"enabled": True, **BUDGETS["random"], "head_depth": [0, 1], "head_width": [8, 16], "learning_rate": [0.005, 0.05]}


@pytest.mark.parametrize("strategy", ["random", "hyperband"])
def test_tuner_fn_searches_within_the_bounds_on_the_train_split(tmp_path: Path, digits_example: ExampleLayout, strategy: str) -> None:
    transformed = transformed_digits(tmp_path, per_class=8, eval_limit=5)
    settings = trainer_settings(digits_example, validation_fraction=0.25)
    args = fn_args(
        transformed,
        tmp_path,
        {**settings, TUNING_KEY: {**TUNING, **BUDGETS[strategy], "strategy": strategy, "dropout": [0.0, 0.5], "unfreeze_blocks": [1, 3]}},
    )
    args.working_dir = str(tmp_path / "tuner")
    args.transform_output = None  # as TFX's Tuner leaves it (only the Trainer's executor sets it)
    result = tuner_fn(args)
    result.tuner.search(**result.fit_kwargs)  # what the TFX Tuner executor does

    trials = result.tuner.oracle.get_best_trials(num_trials=2)
    assert len(trials) == 2 and all(0.0 <= t.score <= 1.0 for t in trials)
    tuning = TuningConfig.model_validate(args.custom_config[TUNING_KEY])
    ran = [dict(trial.hyperparameters.values) for trial in result.tuner.oracle.trials.values()]
    # hyperband with trial_epochs 3: a round of three 1-epoch trials, then the best one for 3 (KerasTuner's HyperbandOracle, factor 3)
    assert [values.pop(TRIAL_EPOCHS) for values in ran] == ([2, 2] if strategy == "random" else [1, 1, 1, 3])
    if strategy == "random":
        shared = tuning_space.sample_trials(tuning_space.search_space(tuning, "feature_extraction"), trainer_settings_from(settings).seed, 2)
        assert ran == shared, "the trials every trainer runs"
    best = result.tuner.get_best_hyperparameters()[0]
    assert 0 <= best.get(HEAD_DEPTH) <= 1 and 8 <= best.get(HEAD_WIDTH) <= 16 and 0.005 <= best.get("learning_rate") <= 0.05
    assert "unfreeze_blocks" not in best.values, "feature_extraction has no blocks to unfreeze"
    applied = apply_hyperparameters(trainer_settings_from(settings), best.get_config())
    assert applied.hidden_units == (best.get(HEAD_WIDTH),) * best.get(HEAD_DEPTH)


def test_tuner_fn_with_median_pruning_judges_trials_after_two_completed(tmp_path: Path, digits_example: ExampleLayout) -> None:
    transformed = transformed_digits(tmp_path, per_class=8, eval_limit=5)
    settings = trainer_settings(digits_example, validation_fraction=0.25)
    tuning = {**TUNING, "max_trials": 4, "trial_epochs": 3, "pruning": "median", "learning_rate": [1e-6, 0.05]}
    args = fn_args(transformed, tmp_path, {**settings, TUNING_KEY: tuning})
    args.working_dir = str(tmp_path / "tuner")
    args.transform_output = None
    result = tuner_fn(args)
    result.tuner.search(**result.fit_kwargs)
    pruner = result.tuner.hypermodel.pruner
    assert len(result.tuner.oracle.trials) == 4 and pruner.stopped + len(pruner.completed_curves) == 4
    assert all(len(curve) == 3 for curve in pruner.completed_curves), "a completed trial trained every epoch"
    assert all(0.0 <= trial.score <= 1.0 for trial in result.tuner.oracle.trials.values()), "a stopped trial keeps the score it reached"


def test_search_space_fixes_equal_bounds_and_tunes_blocks_only_in_incremental() -> None:
    bounds = {"head_depth": (1, 1), "head_width": (32, 256), "dropout": (0.0, 0.5), "learning_rate": (1e-3, 1e-1), "unfreeze_blocks": (1, 3)}
    hp = search_space(TuningConfig.model_validate(bounds), "incremental")
    assert isinstance(next(param for param in hp.space if param.name == HEAD_DEPTH), keras_tuner.engine.hyperparameters.Fixed)
    assert set(hp.values) == {HEAD_DEPTH, HEAD_WIDTH, "dropout", "learning_rate", "unfreeze_blocks"}
    assert "unfreeze_blocks" not in search_space(TuningConfig.model_validate(bounds), "fine_tune").values


def test_the_neutral_config_is_what_keras_tuner_writes() -> None:
    """TorchTuner writes `hyperparameters_config` as best_hyperparameters.txt; KerasTuner must read it back unchanged."""
    space = tuning_space.search_space(TuningConfig.model_validate({"head_depth": (1, 1)}), "incremental")
    config = tuning_space.hyperparameters_config(space, tuning_space.sample_trials(space, 3, 1)[0])
    assert keras_tuner.HyperParameters.from_config(config).get_config() == config


@pytest.mark.parametrize("trainer", ["tf", "torch", "both"])
@pytest.mark.parametrize("enabled", [False, True])
def test_pipeline_adds_each_trainers_tuner_and_feeds_its_best_hyperparameters_to_it(tmp_path: Path, enabled: bool, trainer: str) -> None:
    backbone = {"handle": str(tmp_path), "torch_checkpoint": str(tmp_path / "backbone.pt")}
    config = config_from_dict(
        {
            "trainer": trainer,
            "data": {"path": str(tmp_path)},
            "backbone": backbone,
            "training": {"validation_fraction": 0.2},
            "tuning": {"enabled": enabled},
        }
    )
    pipeline = create_pipeline(config, resolve_run_paths(config, tmp_path))
    pairs = {"tf": (tfx.components.Tuner, tfx.components.Trainer), "torch": (TorchTuner, TorchTrainer)}
    for framework, (tuner_class, trainer_class) in pairs.items():
        tuners = [c for c in pipeline.components if isinstance(c, tuner_class)]
        trainers = [c for c in pipeline.components if isinstance(c, trainer_class)]
        expected = trainer in (framework, "both")
        assert (len(tuners), len(trainers)) == (int(enabled and expected), int(expected)), framework
        if enabled and expected:
            assert trainers[0].inputs["hyperparameters"].producer_component_id == tuners[0].id
            assert tuning_space.TUNING_KEY in tuners[0].exec_properties["custom_config"]
        elif expected:
            assert "hyperparameters" not in trainers[0].inputs
