"""Executor of LabelPrep: Beam counts -> label map -> problems reported as one line."""

from __future__ import annotations

import json
import os
from typing import Any

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from retrain.components.label_prep import counting
from retrain.components.label_prep.label_map import LabelSettings, build_label_map, load_label_map, save_label_map

_COUNTS_FILE = "label_counts.json"


class LabelProblemsError(ValueError):
    """The label map has problems and `labels.on_problem` is `error`."""


class Executor(base_beam_executor.BaseBeamExecutor):
    """Computes the run's label map from the examples and the previous label map."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        output_uri = artifact_utils.get_single_uri(output_dict["label_map"])
        previous = input_dict.get("previous_label_map") or []
        previous_map = load_label_map(previous[0].uri) if previous else None
        settings = LabelSettings(**json.loads(exec_properties["settings"]))

        patterns: dict[str, list[str]] = {}
        for examples in input_dict["examples"]:  # several artifacts with a span window
            for split in artifact_utils.decode_split_names(examples.split_names):
                patterns.setdefault(split, []).append(os.path.join(artifact_utils.get_split_uri([examples], split), "*"))
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
        if label_map.new_labels:
            logging.warning("LabelPrep: new classes appended: %s", label_map.new_labels)
        if label_map.problems:
            summary = f"LabelPrep: {len(label_map.problems)} label problem(s): " + "; ".join(label_map.problems)
            if settings.on_problem == "error":
                raise LabelProblemsError(summary)
            logging.warning(summary)
        save_label_map(label_map, output_uri)


def _write_counts(records: list[tuple[tuple[str, str, bool], int]], path: str) -> None:
    with fileio.open(path, "w") as handle:
        json.dump(records, handle)
