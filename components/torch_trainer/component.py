"""TorchTrainer: the PyTorch trainer as a TFX component (spec and wiring; the work is in `executor.py`)."""

from __future__ import annotations

from typing import Any, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import json_utils

from retrain.components.torch_trainer import executor


class TorchTrainerSpec(ComponentSpec):
    """What the TF Trainer takes (transformed examples, transform graph with the label map, schema, base model, tuned hyperparameters)."""

    PARAMETERS = {"custom_config": ExecutionParameter(type=str)}
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "schema": ChannelParameter(type=standard_artifacts.Schema, optional=True),
        "base_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
        "hyperparameters": ChannelParameter(type=standard_artifacts.HyperParameters, optional=True),
    }
    OUTPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_run": ChannelParameter(type=standard_artifacts.ModelRun),
    }


class TorchTrainer(base_component.BaseComponent):
    """Trains backbone + head in PyTorch on Transform's output; emits a standard `Model` marked `framework=pytorch`."""

    SPEC_CLASS = TorchTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        custom_config: dict[str, Any],
        schema: Optional[types.BaseChannel] = None,
        base_model: Optional[types.BaseChannel] = None,
        hyperparameters: Optional[types.BaseChannel] = None,
        **parameters: Any,
    ) -> None:
        """Builds its SPEC_CLASS; `parameters`: the further execution parameters a subclass's SPEC_CLASS declares (here none)."""
        unknown = sorted(set(parameters) - set(self.SPEC_CLASS.PARAMETERS))
        if unknown:  # ComponentSpec ignores arguments it does not declare
            raise TypeError(f"{type(self).__name__}: unknown parameter {', '.join(unknown)}")
        super().__init__(
            spec=self.SPEC_CLASS(
                examples=examples,
                transform_graph=transform_graph,
                schema=schema,
                base_model=base_model,
                hyperparameters=hyperparameters,
                custom_config=json_utils.dumps(custom_config),
                model=types.Channel(type=standard_artifacts.Model),
                model_run=types.Channel(type=standard_artifacts.ModelRun),
                **parameters,
            )
        )
