"""The Kubeflow variants of the components that consume resolver steps (`create_pipeline` picks them for a Kubeflow target).

Each runs its executor from optional_inputs.py, which drops the resolver-fed
inputs that resolved nothing, and the trainers take the `epochs` runtime
parameter (runtime_epochs.py). Otherwise each is its local class: same name
(so the same default node id, and the same class-name placement in
pipelines/kubeflow/platform.py), same inputs, outputs and execution parameters.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.utils import json_utils

from retrain.components.evaluator_progress import component as evaluator_progress
from retrain.components.kubeflow import optional_inputs
from retrain.components.kubeflow.runtime_epochs import EpochsTorchTrainerSpec, EpochsTrainerSpec
from retrain.components.label_prep import component as label_prep
from retrain.components.torch_evaluator import component as torch_evaluator
from retrain.components.torch_trainer import component as torch_trainer

Epochs = Union[int, data_types.RuntimeParameter]


class LabelPrep(label_prep.LabelPrep):
    """LabelPrep, without a previous label map when its resolver step found none."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(optional_inputs.LabelPrepExecutor)


class Evaluator(evaluator_progress.Evaluator):
    """The progress-printing Evaluator, without a baseline when its resolver step found none."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(optional_inputs.EvaluatorExecutor)


class TorchEvaluator(torch_evaluator.TorchEvaluator):
    """TorchEvaluator, without a baseline when its resolver step found none."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(optional_inputs.TorchEvaluatorExecutor)


class TorchTrainer(torch_trainer.TorchTrainer):
    """TorchTrainer plus `epochs` (0: the configured number), without a warm-start model when its resolver step found none."""

    SPEC_CLASS = EpochsTorchTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(optional_inputs.TorchTrainerExecutor)

    def __init__(self, *, epochs: Epochs, **inputs: Any) -> None:
        super().__init__(**inputs, epochs=epochs)


class Trainer(base_component.BaseComponent):
    """TFX's Trainer with `run_fn`, plus `epochs` (0: the configured number), without a warm-start model when its resolver step found none.

    TFX's `Trainer.__init__` builds a `TrainerSpec` itself, so a subclass cannot add
    a parameter; this builds the spec it builds (tfx/components/trainer/component.py,
    TFX 1.16.0: default TrainArgs/EvalArgs, no module file, `custom_config` as JSON)
    with `epochs` added, and runs TFX's GenericExecutor through TrainerExecutor.
    """

    SPEC_CLASS = EpochsTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(optional_inputs.TrainerExecutor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        run_fn: str,
        custom_config: dict[str, Any],
        epochs: Epochs,
        schema: Optional[types.BaseChannel] = None,
        base_model: Optional[types.BaseChannel] = None,
        hyperparameters: Optional[types.BaseChannel] = None,
    ) -> None:
        super().__init__(
            spec=EpochsTrainerSpec(
                examples=examples,
                transform_graph=transform_graph,
                schema=schema,
                base_model=base_model,
                hyperparameters=hyperparameters,
                train_args=trainer_pb2.TrainArgs(),
                eval_args=trainer_pb2.EvalArgs(),
                module_file=None,
                run_fn=run_fn,
                custom_config=json_utils.dumps(custom_config),
                model=types.Channel(type=standard_artifacts.Model),
                model_run=types.Channel(type=standard_artifacts.ModelRun),
                epochs=epochs,
            )
        )
