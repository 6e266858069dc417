"""`Evaluator`: TFX's Evaluator component (same spec, inputs and outputs) whose executor shows progress."""

from __future__ import annotations

from typing import Any

from tfx.components.evaluator.component import Evaluator as TfxEvaluator
from tfx.dsl.components.base import executor_spec

from retrain.components.evaluator_progress import executor

EXTRACTORS_MODULE = "retrain.components.evaluator_progress.extractors"


class Evaluator(TfxEvaluator):
    """TFX's Evaluator, printing examples evaluated, rate and ETA while TFMA runs; its node id stays `Evaluator`."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(module_path=EXTRACTORS_MODULE, **kwargs)
