"""VersionedPusher: TFX's Pusher spec plus the model's evaluation, with retrain's versioning executor."""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from retrain.components.versioned_pusher import executor


class VersionedPusherSpec(standard_component_specs.PusherSpec):
    """`PusherSpec` with an optional `model_evaluation` input: the candidate's accuracy for the cumulative gate."""

    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True),
    }


class VersionedPusher(base_component.BaseComponent):
    """Pushes a blessed model as the next integer version, atomically, never a model already pushed.

    With `model_evaluation` and `max_accuracy_drop` it also refuses a model more than
    `max_accuracy_drop` below the best pushed version (components/versioned_pusher/versioning.py);
    with several tasks, `task_max_accuracy_drops` ({task: allowed drift}) does so for each task.
    """

    SPEC_CLASS = VersionedPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        push_destination: pusher_pb2.PushDestination,
        model_evaluation: Optional[types.BaseChannel] = None,
        max_accuracy_drop: Optional[float] = None,
        task_max_accuracy_drops: Optional[dict[str, float]] = None,
    ) -> None:
        drift = {executor.MAX_ACCURACY_DROP_KEY: max_accuracy_drop}
        if task_max_accuracy_drops:
            drift[executor.TASK_MAX_ACCURACY_DROPS_KEY] = task_max_accuracy_drops
        spec = VersionedPusherSpec(
            model=model,
            model_blessing=model_blessing,
            push_destination=push_destination,
            custom_config=json_utils.dumps(drift),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            **{executor.EVALUATION_KEY: model_evaluation},
        )
        super().__init__(spec=spec)
