"""An `epochs` runtime parameter for the trainers of compiled pipelines (what a schedule may change per run).

The trainers' settings travel as one JSON `custom_config`, which a runtime
parameter cannot reach into. The Kubeflow trainers (consumers.py) take these
specs, which add an `epochs` execution parameter; `apply_requested_epochs` (run by
their executors, optional_inputs.py) writes a positive value into the settings'
`epochs`; the default 0 keeps the config's value.
"""

from __future__ import annotations

from typing import Any

from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from retrain.components.torch_trainer.component import TorchTrainerSpec
from retrain.components.trainer_settings import CODE_VERSION_KEY, trainer_custom_config, trainer_settings_from

EPOCHS_KEY = "epochs"
KEEP_CONFIGURED_EPOCHS = 0


class EpochsTrainerSpec(standard_component_specs.TrainerSpec):
    """TrainerSpec plus `epochs` (0: the configured number)."""

    PARAMETERS = {**standard_component_specs.TrainerSpec.PARAMETERS, EPOCHS_KEY: ExecutionParameter(type=int, optional=True)}


class EpochsTorchTrainerSpec(TorchTrainerSpec):
    """TorchTrainerSpec plus `epochs` (0: the configured number)."""

    PARAMETERS = {**TorchTrainerSpec.PARAMETERS, EPOCHS_KEY: ExecutionParameter(type=int, optional=True)}


def apply_requested_epochs(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The exec properties without `epochs`, its positive value written into the settings of `custom_config`."""
    properties = dict(exec_properties)
    epochs = int(properties.pop(EPOCHS_KEY, None) or KEEP_CONFIGURED_EPOCHS)
    if epochs > KEEP_CONFIGURED_EPOCHS:
        custom_config = json_utils.loads(properties[standard_component_specs.CUSTOM_CONFIG_KEY])
        settings = trainer_settings_from(custom_config).updated(epochs=epochs)
        properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(trainer_custom_config(settings, custom_config[CODE_VERSION_KEY]))
    return properties
