"""Executor of LabelPrep: Beam counts -> label map -> problems reported as one line."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from retrain.components.label_prep import counting
from retrain.components.label_prep.label_map import LabelSettings, build_label_map, load_label_map, save_label_map
from retrain.components.label_prep.task_maps import build_task_label_maps, previous_task_label_maps, save_task_label_maps

_COUNTS_FILE = "label_counts.json"


class LabelProblemsError(ValueError):
    """The label map has problems and `labels.on_problem` is `error`."""


class Executor(base_beam_executor.BaseBeamExecutor):
    """Computes the run's label map from the examples and the previous label map."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        output_uri = artifact_utils.get_single_uri(output_dict["label_map"])
        previous = input_dict.get("previous_label_map") or []
        settings = LabelSettings(**json.loads(exec_properties["settings"]))

        patterns: dict[str, list[str]] = {}
        for examples in input_dict["examples"]:  # several artifacts with a span window
            for split in artifact_utils.decode_split_names(examples.split_names):
                patterns.setdefault(split, []).append(os.path.join(artifact_utils.get_split_uri([examples], split), "*"))
        if exec_properties.get("task_labels"):
            tasks = [str(task) for task in json.loads(exec_properties["task_labels"])]
            self._task_label_maps(patterns, tasks, exec_properties["input_feature"], previous[0].uri if previous else None, settings, output_uri)
            return
        previous_map = load_label_map(previous[0].uri) if previous else None
        counts_path = os.path.join(output_uri, _COUNTS_FILE)
        with self._make_beam_pipeline() as pipeline:
            _ = (
                pipeline
                | "CountLabels" >> counting.CountLabels(patterns, exec_properties["label_feature"], exec_properties["input_feature"])
                | "Gather" >> beam.combiners.ToList()
                | "Write" >> beam.Map(_write_counts, counts_path)
            )
        with fileio.open(counts_path, "r") as handle:
            records = [((split, label, has_input), count) for (split, label, has_input), count in json.load(handle)]
        fileio.remove(counts_path)

        label_map = build_label_map(counting.split_counts(records), previous_map, settings)
        _report(label_map.new_labels, label_map.problems, settings)
        save_label_map(label_map, output_uri)

    def _task_label_maps(
        self,
        patterns: dict[str, list[str]],
        tasks: list[str],
        input_feature: str,
        previous_uri: Optional[str],
        settings: LabelSettings,
        output_uri: str,
    ) -> None:
        """Several tasks: one Beam count over every task's column, then one stable map per task (components/label_prep/task_maps.py)."""
        counts_path = os.path.join(output_uri, _COUNTS_FILE)
        with self._make_beam_pipeline() as pipeline:
            _ = (
                pipeline
                | "CountTaskLabels" >> counting.CountTaskLabels(patterns, tasks, input_feature)
                | "Gather" >> beam.combiners.ToList()
                | "Write" >> beam.Map(_write_counts, counts_path)
            )
        with fileio.open(counts_path, "r") as handle:
            records = [((split, task, label, has_input), count) for (split, task, label, has_input), count in json.load(handle)]
        fileio.remove(counts_path)
        maps = build_task_label_maps(counting.task_split_counts(records, tasks), previous_task_label_maps(previous_uri, tasks), settings)
        new = [f"{task}: {label}" for task, task_map in maps.items() for label in task_map.new_labels]
        _report(new, [problem for task_map in maps.values() for problem in task_map.problems], settings)
        save_task_label_maps(maps, output_uri)


def _report(new_labels: list[str], problems: list[str], settings: LabelSettings) -> None:
    """Logs new classes; raises LabelProblemsError listing the problems (or logs them with `on_problem: warn`)."""
    if new_labels:
        logging.warning("LabelPrep: new classes appended: %s", new_labels)
    if problems:
        summary = f"LabelPrep: {len(problems)} label problem(s): " + "; ".join(problems)
        if settings.on_problem == "error":
            raise LabelProblemsError(summary)
        logging.warning(summary)


def _write_counts(records: list[tuple[tuple[str, str, bool], int]], path: str) -> None:
    with fileio.open(path, "w") as handle:
        json.dump(records, handle)
