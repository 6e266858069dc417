"""TFMA's default extractors plus one stage that reports how many examples have been evaluated.

`custom_extractors` is the Evaluator's module hook (tfx/components/evaluator/executor.py at
TFX 1.16 calls it when the component has a `module_path`). The progress stage sits just
before TFMA's `ExtractUnbatchedInputs`, after the models' predictions, so its count follows
the slow part: inference. The expected total comes from the executor (`expected.expected_examples`).
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import apache_beam as beam
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.extractors import unbatch_extractor

from retrain.components.evaluator_progress.expected import expected_total
from retrain.components.training_core.progress import ProgressLine

PROGRESS_STAGE_NAME = "ReportEvaluationProgress"


def batch_rows(extracts: dict[str, Any]) -> int:
    """How many examples one batched TFMA extract holds."""
    record_batch = extracts.get(tfma.constants.ARROW_RECORD_BATCH_KEY)
    if record_batch is not None:
        return record_batch.num_rows
    return len(extracts[tfma.constants.INPUT_KEY])


class _ReportProgress(beam.DoFn):
    """Passes extracts through unchanged, printing `[retrain] Evaluator: 120/480 examples, 40 examples/s, ETA 9s`."""

    def __init__(self, total: Optional[int]) -> None:
        self._total = total

    def setup(self) -> None:
        self._line: Optional[ProgressLine] = None
        self._done = 0

    def process(self, extracts: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if self._line is None:  # the clock starts at the first example, not while the models load
            what = "Evaluator" if self._total is not None else f"Evaluator worker {os.getpid()}"
            self._line = ProgressLine(what, self._total, "examples")
        self._done += batch_rows(extracts)
        self._line.update(self._done)
        yield extracts

    def teardown(self) -> None:
        if self._line is not None:
            self._line.close()


def progress_extractor(total: Optional[int]) -> tfma.extractors.Extractor:
    """A pass-through extractor that reports examples evaluated against `total` (None: several workers share the
    examples; each reports its own count and rate, without ETA)."""
    return tfma.extractors.Extractor(stage_name=PROGRESS_STAGE_NAME, ptransform=beam.ParDo(_ReportProgress(total)))


def custom_extractors(eval_shared_model: Any, eval_config: tfma.EvalConfig, tensor_adapter_config: Any) -> list[tfma.extractors.Extractor]:
    """TFMA's default extractors (as `ExtractEvaluateAndWriteResults` builds them) with the progress stage."""
    extractors = tfma.default_extractors(
        eval_shared_model=eval_shared_model,
        eval_config=eval_config,
        tensor_adapter_config=tensor_adapter_config,
        config_version=2,
    )
    stages = [extractor.stage_name for extractor in extractors]
    position = stages.index(unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME)
    return [*extractors[:position], progress_extractor(expected_total()), *extractors[position:]]
