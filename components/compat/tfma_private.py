"""Private TFMA 0.47.1 symbols, one function each (see the package docstring; contracts in tests/test_compat.py)."""

from __future__ import annotations

from typing import Mapping

from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.writers import eval_config_writer


def serialize_eval_run(eval_config: config_pb2.EvalConfig, data_location: str, file_format: str, model_locations: Mapping[str, str]) -> str:
    """The text of TFMA's `eval_config.json` for one evaluation run (an EvalRun proto as JSON).

    Upstream: `_serialize_eval_run` in tensorflow_model_analysis/writers/eval_config_writer.py;
    `eval_config_writer.load_eval_run` reads it back. Needed by TorchEvaluator's gate,
    whose output directory must read like a TFX Evaluator's, holding the gate it applied.
    """
    return eval_config_writer._serialize_eval_run(eval_config, data_location, file_format, dict(model_locations))
