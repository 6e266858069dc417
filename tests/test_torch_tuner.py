"""TorchTuner on tiny transformed records: the shared trials, TFX's Tuner output format, and TorchTrainer training the best trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.label_prep.label_map import LabelMap, save_label_map
from retrain.components.torch_trainer import executor as trainer_executor
from retrain.components.torch_trainer.export import STATE_DICT_FILE
from retrain.components.torch_tuner import executor as tuner_executor
from retrain.components.trainer_settings import trainer_custom_config, tuner_custom_config
from retrain.components.tuning.hyperparameters import BEST_HYPERPARAMETERS_FILE, TUNER_RESULTS_FILE
from retrain.components.tuning.space import HEAD_DEPTH, HEAD_WIDTH, TuningConfig, sample_trials, search_space
from retrain.components.tuning.strategy import TRIAL_EPOCHS
from settings_data import settings as trainer_settings
from torch_records import feature_spec, save_backbone, write_records

TUNING = TuningConfig(
    enabled=True, max_trials=3, trial_epochs=3, head_depth=(1, 2), head_width=(4, 32), learning_rate=(1e-4, 0.3), dropout=(0.0, 0.3)
)
SEED = 5


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Transformed records and transform graph laid out as TFX's Transform writes them; TorchTuner run on them."""
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
    from tfx.types import standard_artifacts

    root = tmp_path_factory.mktemp("torch_tuner")
    for split, count, seed in (("train", 48, 0), ("eval", 8, 1)):
        (root / "examples" / f"Split-{split}").mkdir(parents=True)
        write_records(root / "examples" / f"Split-{split}" / "data.gz", count, seed)
    transform_dir = root / "transform_graph"
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec())), str(transform_dir / "transformed_metadata")
    )
    save_label_map(LabelMap(labels=["dark", "bright"], class_weights=[1.0, 1.0]), str(transform_dir))
    save_backbone(root / "backbone.pt")
    settings = trainer_settings(
        torch_checkpoint=str(root / "backbone.pt"), validation_fraction=0.25, epochs=3, batch_size=8, seed=SEED, hidden_units=()
    )

    def artifact(cls: type, name: str) -> Any:
        instance = cls()
        instance.uri = str(root / name)
        return instance

    data = {
        "examples": [artifact(standard_artifacts.Examples, "examples")],
        "transform_graph": [artifact(standard_artifacts.TransformGraph, "transform_graph")],
    }
    outputs = {
        "best_hyperparameters": [artifact(standard_artifacts.HyperParameters, "best_hyperparameters")],
        "tuner_results": [artifact(standard_artifacts.TunerResults, "tuner_results")],
    }
    tuner_executor.Executor().Do(data, outputs, {"custom_config": json.dumps(tuner_custom_config(settings, "tests", TUNING))})
    return {"root": root, "settings": settings, "data": data, "best": outputs["best_hyperparameters"], "artifact": artifact}


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def test_torch_and_tf_tuners_run_the_same_trials_for_one_seed(tuned: dict[str, Any]) -> None:
    from retrain.components.hub_tuner.tuner_module import strategy_oracle

    torch_trials = [
        {key: value for key, value in row.items() if key not in ("trial_id", "score")}
        for row in sorted(_read(tuned["root"] / "tuner_results" / TUNER_RESULTS_FILE), key=lambda row: row["trial_id"])
    ]
    oracle = strategy_oracle(tuned["settings"], TUNING)  # what the TF tuner's KerasTuner search draws its trials from
    tf_trials = [oracle.populate_space(str(index))["values"] for index in range(oracle.max_trials)]  # as KerasTuner's create_trial asks
    assert {values.pop(TRIAL_EPOCHS) for values in tf_trials} == {TUNING.trial_epochs}
    assert torch_trials == tf_trials == sample_trials(search_space(TUNING, "feature_extraction"), SEED, TUNING.max_trials)


def test_best_hyperparameters_are_the_best_scored_trial_in_tfx_tuner_format(tuned: dict[str, Any]) -> None:
    results = _read(tuned["root"] / "tuner_results" / TUNER_RESULTS_FILE)
    best = _read(tuned["root"] / "best_hyperparameters" / BEST_HYPERPARAMETERS_FILE)
    assert len(results) == TUNING.max_trials and [row["score"] for row in results] == sorted((row["score"] for row in results), reverse=True)
    assert len({row["score"] for row in results}) > 1, "the trials' learning rates span 1e-4..0.3: their scores must differ"
    assert best["values"] == {key: value for key, value in results[0].items() if key not in ("trial_id", "score")}
    assert [entry["config"]["name"] for entry in best["space"]] == [HEAD_DEPTH, HEAD_WIDTH, "dropout", "learning_rate"]


def test_torch_trainer_trains_the_best_trials_head(tuned: dict[str, Any]) -> None:
    from tfx.types import standard_artifacts

    artifact = tuned["artifact"]
    model = artifact(standard_artifacts.Model, "model/1")
    outputs = {"model": [model], "model_run": [artifact(standard_artifacts.ModelRun, "model_run/1")]}
    custom_config = json.dumps(trainer_custom_config(tuned["settings"], "tests"))
    trainer_executor.Executor().Do({**tuned["data"], "hyperparameters": tuned["best"]}, outputs, {"custom_config": custom_config})

    best = _read(tuned["root"] / "best_hyperparameters" / BEST_HYPERPARAMETERS_FILE)["values"]
    weights = torch.load(str(Path(model.uri) / "Format-Serving" / STATE_DICT_FILE), weights_only=True)
    hidden = [tuple(value.shape) for name, value in weights.items() if name.startswith("hidden.") and name.endswith(".weight")]
    assert hidden == [(best[HEAD_WIDTH], 16)] + [(best[HEAD_WIDTH], best[HEAD_WIDTH])] * (best[HEAD_DEPTH] - 1), (
        "the untuned settings have no hidden layer"
    )


def test_torch_search_runs_hyperband_with_the_proposed_epochs(tuned: dict[str, Any]) -> None:
    from retrain.components.torch_trainer.data import TransformedExamples, carve_validation, load_all
    from retrain.components.torch_tuner.search import run_trials

    records = TransformedExamples([str(tuned["root"] / "examples" / "Split-train" / "data.gz")], feature_spec())
    train, validation = carve_validation(load_all(records), 0.25, SEED)
    tuning = TUNING.model_copy(update={"strategy": "hyperband", "max_trials": 4, "trial_epochs": 3})
    results = run_trials(tuned["settings"], tuning, train, validation, 2, None, 0.0)
    # KerasTuner's HyperbandOracle with max_epochs 3, factor 3: three 1-epoch trials, then the best of them for 3 epochs
    assert [result.epochs for result in results] == [1, 1, 1, 3]
    best_first_round = max(results[:3], key=lambda result: (result.score, -result.index))
    assert results[3].values == best_first_round.values, "the round's best trial is the one promoted"


def test_torch_search_with_median_pruning_stops_only_trials_it_may(tuned: dict[str, Any]) -> None:
    from retrain.components.torch_trainer.data import TransformedExamples, carve_validation, load_all
    from retrain.components.torch_tuner.search import run_trials

    records = TransformedExamples([str(tuned["root"] / "examples" / "Split-train" / "data.gz")], feature_spec())
    train, validation = carve_validation(load_all(records), 0.25, SEED)
    tuning = TUNING.model_copy(update={"pruning": "median", "max_trials": 6, "trial_epochs": 4, "learning_rate": (1e-6, 0.3)})
    results = run_trials(tuned["settings"], tuning, train, validation, 2, None, 0.0)
    assert len(results) == 6 and not any(result.pruned for result in results[:2]), "no trial is judged before two completed"
    assert all(2 <= result.epochs < 4 for result in results if result.pruned), "never in the first epoch, and only before the last"
    assert all(result.epochs <= 4 for result in results)
    assert max(results, key=lambda result: result.score).pruned is False or all(result.pruned for result in results[2:])
