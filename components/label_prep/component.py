"""LabelPrep: the label-preparation step of the pipeline (spec and TFX wiring)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import json_utils

from retrain.components.label_prep import executor
from retrain.components.label_prep.artifact import LabelMap
from retrain.components.label_prep.label_map import LabelSettings

EXAMPLES_KEY = "examples"
PREVIOUS_LABEL_MAP_KEY = "previous_label_map"
LABEL_MAP_KEY = "label_map"


class LabelPrepSpec(ComponentSpec):
    """Inputs: examples and, optionally, the previous run's label map. Output: this run's label map."""

    PARAMETERS = {
        "label_feature": ExecutionParameter(type=str),
        "input_feature": ExecutionParameter(type=str),
        "settings": ExecutionParameter(type=str),
        "task_labels": ExecutionParameter(type=str, optional=True),  # JSON list, set only for several tasks
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        PREVIOUS_LABEL_MAP_KEY: ChannelParameter(type=LabelMap, optional=True),
    }
    OUTPUTS = {LABEL_MAP_KEY: ChannelParameter(type=LabelMap)}


class LabelPrep(base_beam_component.BaseBeamComponent):
    """Counts labels with Beam and writes a label map whose ids never move between runs."""

    SPEC_CLASS = LabelPrepSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        label_feature: str,
        input_feature: str,
        settings: LabelSettings,
        previous_label_map: Optional[types.BaseChannel] = None,
        task_labels: Sequence[str] = (),
    ) -> None:
        """`task_labels`: with several tasks, every task's label column (the first is `label_feature`); one map per task."""
        several = {"task_labels": json_utils.dumps(list(task_labels))} if len(task_labels) > 1 else {}  # one task: as before
        super().__init__(
            spec=LabelPrepSpec(
                examples=examples,
                previous_label_map=previous_label_map,
                label_feature=label_feature,
                input_feature=input_feature,
                settings=json_utils.dumps(dataclasses.asdict(settings)),
                label_map=types.Channel(type=LabelMap),
                **several,
            )
        )
