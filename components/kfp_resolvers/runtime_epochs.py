"""An `epochs` runtime parameter for the Trainer of compiled pipelines (what a schedule may change per run).

The Trainer's settings travel as one JSON `custom_config`, which a runtime
parameter cannot reach into. `with_epochs_parameter` adds an `epochs` execution
parameter to a Trainer's spec; `apply_requested_epochs` (run by the Kubeflow
Trainer executor) writes a positive value into `custom_config["epochs"]`; the
default 0 keeps the config's value.
"""
from __future__ import annotations

from typing import Any, Union

from tfx.components.trainer.component import Trainer
from tfx.orchestration import data_types
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

EPOCHS_KEY = "epochs"
KEEP_CONFIGURED_EPOCHS = 0


class EpochsTrainerSpec(standard_component_specs.TrainerSpec):
    """TrainerSpec plus `epochs` (0: the configured number)."""

    PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS, EPOCHS_KEY: ExecutionParameter(type=int, optional=True)}


def with_epochs_parameter(trainer: Trainer, epochs: Union[int, data_types.RuntimeParameter]) -> Trainer:
    """`trainer` with its spec extended by `epochs`; inputs, outputs and other parameters unchanged."""
    spec = trainer.spec
    trainer.spec = EpochsTrainerSpec(**spec.exec_properties, **spec.inputs, **spec.outputs, **{EPOCHS_KEY: epochs})
    return trainer


def apply_requested_epochs(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The exec properties without `epochs`, its positive value written into `custom_config`."""
    properties = dict(exec_properties)
    epochs = int(properties.pop(EPOCHS_KEY, None) or KEEP_CONFIGURED_EPOCHS)
    if epochs > KEEP_CONFIGURED_EPOCHS:
        custom_config = json_utils.loads(properties[standard_component_specs.CUSTOM_CONFIG_KEY])
        properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json_utils.dumps({**custom_config, EPOCHS_KEY: epochs})
    return properties
