"""Tuned hyperparameters (a tuner's `best_hyperparameters`) applied to the trainer settings, alike in both trainers."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from retrain.components.trainer_settings import TrainerSettings
from retrain.components.tuning.space import HEAD_DEPTH, HEAD_WIDTH, TUNED_SETTINGS, task_head_depth

BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"  # what TFX's Tuner writes (tfx/components/tuner/executor.py, tfx 1.16)
TUNER_RESULTS_FILE = "tuner_results.json"  # likewise


def apply_hyperparameters(settings: TrainerSettings, hyperparameters: Optional[Mapping[str, Any]]) -> TrainerSettings:
    """`settings` with tuned values in place: `head_depth` x `head_width` dense layers, dropout, learning rate, unfrozen blocks.

    With several tasks searched (`head_depth__<task>` per task) each task's head gets its own depth of `head_width`
    units (`task_hidden_units`; `hidden_units` becomes the main task's). `hyperparameters` is a KerasTuner
    `HyperParameters.get_config()` mapping (its `values` are used) or a plain name -> value mapping; None leaves `settings` as is.
    """
    if not hyperparameters:
        return settings
    values = hyperparameters.get("values", hyperparameters)
    tuned = {name: values[name] for name in TUNED_SETTINGS if name in values}
    width = int(values.get(HEAD_WIDTH, 0))
    searched = sorted(name for name in values if name.startswith(task_head_depth("")))
    if searched:
        depths = [task_head_depth(task) for task in settings.task_labels]
        if not settings.multitask or searched != sorted(depths):
            raise ValueError(f"tuned head depths {searched} do not match the tasks {list(settings.task_labels)}: re-run the search")
        tuned["task_hidden_units"] = tuple((width,) * int(values[depth]) for depth in depths)
        tuned["hidden_units"] = tuned["task_hidden_units"][0]
    elif HEAD_DEPTH in values:
        tuned["hidden_units"] = [width] * int(values[HEAD_DEPTH])
    return settings.updated(**tuned)
