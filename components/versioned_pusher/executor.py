"""Executor of VersionedPusher: TFX Pusher semantics, with integer versions, atomic and idempotent pushes."""

from __future__ import annotations

from typing import Any, Optional

from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils, proto_utils

from retrain.components.versioned_pusher.evaluation import task_accuracies
from retrain.components.versioned_pusher.properties import PUSH_OUTCOME_KEY
from retrain.components.versioned_pusher.versioning import push_model

EVALUATION_KEY = "model_evaluation"
MAX_ACCURACY_DROP_KEY = "max_accuracy_drop"
TASK_MAX_ACCURACY_DROPS_KEY = "task_max_accuracy_drops"  # several tasks: {task: allowed drift}


def _candidate_accuracies(input_dict: dict[str, list[types.Artifact]]) -> dict[str, Optional[float]]:
    """The candidate's gate accuracy per task ("" for a single task), main task first; {} without an evaluation."""
    evaluations = input_dict.get(EVALUATION_KEY) or []
    return {task: accuracy.candidate for task, accuracy in task_accuracies(evaluations[0].uri).items()} if evaluations else {}


class Executor(tfx_pusher_executor.Executor):
    """Pushes a blessed model to `<base_directory>/<next integer version>/` unless it was pushed before or drifts."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(PUSH_OUTCOME_KEY, "not blessed by the Evaluator")
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("VersionedPusher supports filesystem push destinations only")
        custom_config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
        model_path = self.GetModelPath(input_dict)
        accuracies = _candidate_accuracies(input_dict)
        result = push_model(
            model_path,
            destination.filesystem.base_directory,
            source=model_path,
            accuracy=next(iter(accuracies.values()), None),
            max_accuracy_drop=custom_config.get(MAX_ACCURACY_DROP_KEY),
            task_accuracies={task: accuracy for task, accuracy in accuracies.items() if task and accuracy is not None},
            task_max_accuracy_drops=custom_config.get(TASK_MAX_ACCURACY_DROPS_KEY),
        )
        model_push.set_string_custom_property(PUSH_OUTCOME_KEY, result.reason)
        if result.pushed:
            self._MarkPushed(model_push, pushed_destination=result.path, pushed_version=str(result.version))
        else:
            self._MarkNotPushed(model_push)
