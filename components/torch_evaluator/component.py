"""TorchEvaluator: the evaluation gate for PyTorch models (spec and wiring; the work is in `executor.py`).

Same gate as TFX's Evaluator on the TF model (the pipeline passes the same
EvalConfig); outputs a standard `ModelEvaluation` (TFMA format) and `ModelBlessing`
that the Pusher, the run summary and the report read like the Evaluator's.
"""

from __future__ import annotations

from typing import Optional

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from retrain.components.torch_evaluator import executor

EVAL_CONFIG_KEY = "eval_config"


class TorchEvaluatorSpec(ComponentSpec):
    """Inputs: transformed examples (eval split) and their transform graph, candidate model, optional baseline model; the gate's EvalConfig."""

    PARAMETERS = {EVAL_CONFIG_KEY: ExecutionParameter(type=tfma.EvalConfig)}
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "model": ChannelParameter(type=standard_artifacts.Model),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class TorchEvaluator(base_component.BaseComponent):
    """Batch inference of the candidate (and baseline) PyTorch model, then TFMA metrics and the gate."""

    SPEC_CLASS = TorchEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        baseline_model: Optional[types.BaseChannel] = None,
    ) -> None:
        super().__init__(
            spec=TorchEvaluatorSpec(
                examples=examples,
                transform_graph=transform_graph,
                model=model,
                baseline_model=baseline_model,
                eval_config=eval_config,
                evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )
