"""Executor of LabelMappedTransform: injects the label map, then runs TFX's Transform executor."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.types import artifact_utils
from tfx.utils import json_utils

from retrain.components.label_prep.task_maps import load_task_label_maps, save_task_label_maps
from retrain.components.trainer_settings import LABEL_VOCABULARY_KEY, SETTINGS_KEY, TASK_VOCABULARIES_KEY, InputSettings


class Executor(transform_executor.Executor):
    """Transform with `custom_config["label_vocabulary"]` (and, with several tasks, `["task_vocabularies"]`) set from the label map input."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        custom_config = json_utils.loads(exec_properties.get("custom_config") or "null") or {}
        tasks = list(InputSettings.model_validate(custom_config[SETTINGS_KEY]).task_labels)
        label_maps = load_task_label_maps(artifact_utils.get_single_uri(input_dict["label_map"]), tasks)
        custom_config[LABEL_VOCABULARY_KEY] = label_maps[tasks[0]].labels
        if len(tasks) > 1:
            custom_config[TASK_VOCABULARIES_KEY] = {task: label_map.labels for task, label_map in label_maps.items()}
        properties = {**exec_properties, "custom_config": json_utils.dumps(custom_config)}
        inputs = {key: artifacts for key, artifacts in input_dict.items() if key != "label_map"}
        super().Do(inputs, output_dict, properties)
        save_task_label_maps(label_maps, artifact_utils.get_single_uri(output_dict["transform_graph"]))
