"""TorchTuner: the shared hyperparameter search run with the PyTorch trainer's code, as a TFX component.

The counterpart of TFX's Tuner for `trainer: torch | both`: same inputs and outputs
(`best_hyperparameters`, `tuner_results`), so its result feeds TorchTrainer's
`hyperparameters` as the Tuner's feeds the Trainer's.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import json_utils

from retrain.components.torch_tuner import executor


class TorchTunerSpec(ComponentSpec):
    """TFX's TunerSpec less what this search does not use (module file, schema, train/eval/tune args, base model)."""

    PARAMETERS = {"custom_config": ExecutionParameter(type=str)}
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
    }
    OUTPUTS = {
        "best_hyperparameters": ChannelParameter(type=standard_artifacts.HyperParameters),
        "tuner_results": ChannelParameter(type=standard_artifacts.TunerResults),
    }


class TorchTuner(base_component.BaseComponent):
    """Searches head depth/width, dropout, learning rate (and unfrozen blocks) with PyTorch training on the train split."""

    SPEC_CLASS = TorchTunerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, transform_graph: types.BaseChannel, custom_config: dict[str, Any]) -> None:
        super().__init__(
            spec=TorchTunerSpec(
                examples=examples,
                transform_graph=transform_graph,
                custom_config=json_utils.dumps(custom_config),
                best_hyperparameters=types.Channel(type=standard_artifacts.HyperParameters),
                tuner_results=types.Channel(type=standard_artifacts.TunerResults),
            )
        )
