"""LabelMappedTransform: TFX Transform that also consumes the run's label map."""

from __future__ import annotations

from typing import Any, Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from retrain.components.label_prep.artifact import LabelMap
from retrain.components.label_transform import executor

LABEL_MAP_KEY = "label_map"


class LabelMappedTransformSpec(standard_component_specs.TransformSpec):
    """TransformSpec plus a required `label_map` input."""

    INPUTS = {**standard_component_specs.TransformSpec.INPUTS, LABEL_MAP_KEY: ChannelParameter(type=LabelMap)}


class LabelMappedTransform(base_beam_component.BaseBeamComponent):
    """Standard Transform whose preprocessing_fn maps labels to ids through the label map.

    The executor hands the label map's classes (in id order) to `preprocessing_fn`
    as `custom_config["label_vocabulary"]` and stores the label map beside the
    transform graph, so every trainer reads the ids and class names it used.
    """

    SPEC_CLASS = LabelMappedTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        schema: types.BaseChannel,
        label_map: types.BaseChannel,
        preprocessing_fn: str,
        custom_config: Optional[dict[str, Any]] = None,
    ) -> None:
        transformed_examples = types.Channel(type=standard_artifacts.Examples)
        transformed_examples.matching_channel_name = "examples"
        super().__init__(
            spec=LabelMappedTransformSpec(
                examples=examples,
                schema=schema,
                label_map=label_map,
                preprocessing_fn=preprocessing_fn,
                custom_config=json_utils.dumps(custom_config),
                force_tf_compat_v1=0,
                disable_statistics=1,
                transform_graph=types.Channel(type=standard_artifacts.TransformGraph),
                transformed_examples=transformed_examples,
                updated_analyzer_cache=types.Channel(type=standard_artifacts.TransformCache),
            )
        )
