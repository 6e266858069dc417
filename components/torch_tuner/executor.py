"""Executor of TorchTuner: the shared trials trained in PyTorch -> `best_hyperparameters` as TFX's Tuner writes them."""

from __future__ import annotations

import json
import os
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from retrain.components.label_prep.task_maps import load_task_label_maps
from retrain.components.trainer_settings import tuner_settings_from
from retrain.components.tuning.hyperparameters import BEST_HYPERPARAMETERS_FILE, TUNER_RESULTS_FILE
from retrain.components.tuning.space import TrialResult, best_trial, hyperparameters_config, search_space, tuner_results


def _write(directory: str, name: str, content: Any) -> None:
    fileio.makedirs(directory)
    with fileio.open(os.path.join(directory, name), "w") as handle:
        handle.write(json.dumps(content))


def _trial_line(result: TrialResult) -> None:
    print(
        f"[retrain] TorchTuner: trial {result.index + 1}: {result.values} -> validation accuracy {result.score:.4f} "
        f"({result.epochs} epochs{', stopped early by pruning' if result.pruned else ''})",
        flush=True,
    )


class Executor(base_executor.BaseExecutor):
    """Runs the search on the train split (trials compared on the carved validation subset; the eval split is never read).

    Writes `best_hyperparameters.txt` (a KerasTuner `HyperParameters` config) and
    `tuner_results.json` (trials best first), the files and formats of TFX's Tuner
    (tfx/components/tuner/executor.py, `write_best_hyperparameters`, tfx 1.16), so
    TorchTrainer reads them as TFX's Trainer reads the Tuner's.
    """

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        import tensorflow_transform as tft

        from retrain.components.torch_trainer.data import TransformedExamples, carve_validation, load_all
        from retrain.components.torch_trainer.executor import examples_split_files
        from retrain.components.torch_tuner.search import run_trials
        from retrain.components.training_core.features import LABEL_ID
        from retrain.components.training_core.tasks import task_label_id

        settings, tuning = tuner_settings_from(json.loads(exec_properties["custom_config"]))
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        label_maps = load_task_label_maps(transform_uri, settings.task_labels)
        label_map = label_maps[settings.label_feature]
        feature_spec = dict(tft.TFTransformOutput(transform_uri).transformed_feature_spec())
        label_features = [task_label_id(task) for task in settings.task_labels] if settings.multitask else [LABEL_ID]
        examples = load_all(TransformedExamples(examples_split_files(input_dict["examples"], "train"), feature_spec, label_features=label_features))
        train, validation = carve_validation(examples, settings.validation_fraction, settings.seed)
        results = run_trials(
            settings,
            tuning,
            train,
            validation,
            len(label_map.labels),
            list(label_map.class_weights) or None,
            label_map.label_smoothing,
            _trial_line,
            label_maps=label_maps,
        )
        best = best_trial(results)
        print(f"[retrain] TorchTuner: best trial {best.index + 1}: {best.values}", flush=True)
        config = hyperparameters_config(search_space(tuning, settings.mode, settings.task_labels), best.values)
        _write(artifact_utils.get_single_uri(output_dict["best_hyperparameters"]), BEST_HYPERPARAMETERS_FILE, config)
        _write(artifact_utils.get_single_uri(output_dict["tuner_results"]), TUNER_RESULTS_FILE, tuner_results(results, tuning.max_trials))
