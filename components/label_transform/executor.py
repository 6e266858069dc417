"""Executor of LabelMappedTransform: injects the label map, then runs TFX's Transform executor."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.types import artifact_utils
from tfx.utils import json_utils

from retrain.components.trainer_settings import LABEL_VOCABULARY_KEY
from retrain.components.label_prep.label_map import load_label_map, save_label_map


class Executor(transform_executor.Executor):
    """Transform with `custom_config["label_vocabulary"]` set from the label map input."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        label_map = load_label_map(artifact_utils.get_single_uri(input_dict["label_map"]))
        custom_config = json_utils.loads(exec_properties.get("custom_config") or "null") or {}
        custom_config[LABEL_VOCABULARY_KEY] = label_map.labels
        properties = {**exec_properties, "custom_config": json_utils.dumps(custom_config)}
        inputs = {key: artifacts for key, artifacts in input_dict.items() if key != "label_map"}
        super().Do(inputs, output_dict, properties)
        save_label_map(label_map, artifact_utils.get_single_uri(output_dict["transform_graph"]))
