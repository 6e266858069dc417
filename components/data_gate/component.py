"""AnomaliesGate: stops the pipeline before training when ExampleValidator found anomalies."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from retrain.components.data_gate.anomalies import describe_anomalies, load_split_anomalies


class DataAnomaliesError(ValueError):
    """The data does not match its schema."""


class Executor(base_executor.BaseExecutor):
    """Raises with every split's anomalies in one line; does nothing when the data is clean."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        anomalies = artifact_utils.get_single_instance(input_dict["anomalies"])
        problems = []
        for split in artifact_utils.decode_split_names(anomalies.split_names):
            for line in describe_anomalies(load_split_anomalies(artifact_utils.get_split_uri([anomalies], split))):
                problems.append(f"split '{split}': {line}")
        if problems:
            raise DataAnomaliesError(f"data does not match the schema ({len(problems)} anomalies): " + " | ".join(problems))


class AnomaliesGateSpec(ComponentSpec):
    """One input, the ExampleValidator's anomalies; no outputs."""

    PARAMETERS: dict = {}
    INPUTS = {"anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies)}
    OUTPUTS: dict = {}


class AnomaliesGate(base_component.BaseComponent):
    """Fails (so nothing downstream runs) when the anomalies artifact reports any anomaly."""

    SPEC_CLASS = AnomaliesGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, anomalies: types.BaseChannel) -> None:
        super().__init__(spec=AnomaliesGateSpec(anomalies=anomalies))
