"""One label map per task when a run learns several label columns (issue 18).

Each task's map follows the single map's rules (components/label_prep/label_map.py):
ids never move, new classes are appended sorted, the previous map is the latest
blessed model's map of the same task. Layout of a LabelMap artifact directory:
`label_map.json` is the main (first) task's map, exactly as a single-task run writes
it, so readers of one map keep working; with several tasks every task's map is also
in `tasks/<task>/label_map.json`. A task without a map in the previous artifact (a new
task, or a previous single-task run) starts a fresh map.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence

from tfx.dsl.io import fileio

from retrain.components.label_prep.label_map import LABEL_MAP_FILE, LabelMap, SplitCounts, build_label_map, load_label_map, save_label_map
from retrain.components.label_prep.settings import LabelSettings

TASKS_DIR = "tasks"


class TaskWithOneClassError(ValueError):
    """A task's label column holds fewer than two classes: nothing to classify."""


def task_dir(directory: str, task: str) -> str:
    """Where `task`'s map lies in a LabelMap artifact of several tasks."""
    return os.path.join(directory, TASKS_DIR, task)


def build_task_label_maps(
    splits: Mapping[str, Mapping[str, SplitCounts]],
    previous: Mapping[str, LabelMap],
    settings: LabelSettings,
) -> dict[str, LabelMap]:
    """Each task's map (in `splits`' order) from its counts and its previous map; its problems name the task.

    A task with fewer than two classes raises TaskWithOneClassError (whatever `settings.on_problem`).
    """
    maps = {}
    for task, counts in splits.items():
        label_map = build_label_map(counts, previous.get(task), settings)
        if len(label_map.labels) < 2:
            found = f" ({label_map.labels[0]!r})" if label_map.labels else ""
            raise TaskWithOneClassError(f"LabelPrep: task {task!r} has {len(label_map.labels)} class(es){found}: a classifier needs at least 2")
        label_map.problems = [f"task {task!r}: {problem}" for problem in label_map.problems]
        maps[task] = label_map
    return maps


def save_task_label_maps(maps: Mapping[str, LabelMap], directory: str) -> None:
    """Writes the main task's map as `label_map.json` and, for several tasks, every task's under `tasks/<task>/`."""
    tasks = list(maps)
    save_label_map(maps[tasks[0]], directory)
    if len(tasks) > 1:
        for task in tasks:
            save_label_map(maps[task], task_dir(directory, task))


def load_task_label_maps(directory: str, tasks: Sequence[str]) -> dict[str, LabelMap]:
    """Every task's map from a LabelMap artifact (one task: its `label_map.json`); FileNotFoundError names a missing task."""
    if len(tasks) == 1:
        return {tasks[0]: load_label_map(directory)}
    maps = {}
    for task in tasks:
        if not fileio.exists(os.path.join(task_dir(directory, task), LABEL_MAP_FILE)):
            raise FileNotFoundError(f"label map artifact {directory} holds no map of task {task!r}")
        maps[task] = load_label_map(task_dir(directory, task))
    return maps


def saved_task_label_maps(directory: str) -> dict[str, LabelMap]:
    """Every task's map a LabelMap artifact of several tasks holds, by task name (sorted); {} for a single-task artifact."""
    tasks_root = os.path.join(directory, TASKS_DIR)
    if not fileio.isdir(tasks_root):
        return {}
    tasks = sorted(name.rstrip("/") for name in fileio.listdir(tasks_root))
    return {
        task: load_label_map(task_dir(directory, task)) for task in tasks if fileio.exists(os.path.join(task_dir(directory, task), LABEL_MAP_FILE))
    }


def previous_task_label_maps(directory: Optional[str], tasks: Sequence[str]) -> dict[str, LabelMap]:
    """The previous run's map of each task it has one of (one task: its `label_map.json`, as today)."""
    if directory is None:
        return {}
    if len(tasks) == 1:
        return {tasks[0]: load_label_map(directory)}
    return {
        task: load_label_map(task_dir(directory, task)) for task in tasks if fileio.exists(os.path.join(task_dir(directory, task), LABEL_MAP_FILE))
    }
