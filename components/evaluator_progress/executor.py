"""TFX's Evaluator executor, counting the examples to evaluate first so its progress lines carry an ETA."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import numpy as np
import tensorflow as tf
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
import tensorflow_model_analysis as tfma
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

from retrain.components.evaluator_progress.baseline import unanswered_tasks
from retrain.components.evaluator_progress.expected import expected_examples
from retrain.components.versioned_pusher.evaluation import BASELINE_LEFT_OUT_PROPERTY

_DEFAULT_SPLITS = ["eval"]


def summarised_array_printing() -> Any:
    """NumPy print options under which a tensor's repr shows a few elements, whatever the batch.

    TFMA calls the model's signatures positionally with each batch of serialized
    examples; the structured binding of a SavedModel signature (keyword-only) fails and
    TensorFlow falls back to the flat one, which succeeds, but first formats the whole
    batch into the discarded TypeError's message (`bind_function_inputs` in
    tensorflow/python/eager/polymorphic_function/function_type_utils.py): every image's
    bytes, ~3.8 s of a 15 s Evaluator at 20,000 images.
    """
    return np.printoptions(threshold=8, edgeitems=2)


def count_records(directories: list[str]) -> int:
    """Records in every TFRecord file (GZIP when named `*.gz`, as ExampleGen writes them) under `directories`."""
    total = 0
    for directory in directories:
        files = sorted(tf.io.gfile.glob(os.path.join(directory, "*")))
        for compression in ("GZIP", ""):
            chosen = [path for path in files if path.endswith(".gz") == (compression == "GZIP")]
            if chosen:
                dataset = tf.data.TFRecordDataset(chosen, compression_type=compression)
                total += int(dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))
    return total


def one_local_worker(beam_pipeline_args: list[str]) -> bool:
    """Whether Beam runs every example through one worker of this process (the DirectRunner in memory or with one worker)."""
    options = PipelineOptions(beam_pipeline_args)
    runner = options.view_as(StandardOptions).runner
    direct = options.view_as(DirectOptions)
    if runner not in (None, "DirectRunner", "direct"):
        return False
    return direct.direct_running_mode == "in_memory" or direct.direct_num_workers == 1


def drop_unanswering_baseline(input_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> Optional[str]:
    """Leaves the baseline out (with a line saying why) when it does not answer every task the gate reads; returns why, or None."""
    baselines = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or []
    config_json = exec_properties.get(standard_component_specs.EVAL_CONFIG_KEY)
    if not baselines or not config_json:
        return None
    eval_config = proto_utils.json_to_proto(config_json, tfma.EvalConfig())
    missing = unanswered_tasks(path_utils.serving_model_path(baselines[0].uri), eval_config)
    if not missing:
        return None
    reason = f"the baseline model {baselines[0].uri} does not answer {', '.join(missing)}"
    print(f"[retrain] Evaluator: {reason}; evaluating without a baseline (value thresholds only)", flush=True)
    input_dict[standard_component_specs.BASELINE_MODEL_KEY] = []
    return reason


class Executor(evaluator_executor.Executor):
    """Evaluates exactly as TFX's Evaluator does, without a baseline that cannot answer every task; `custom_extractors`
    reports progress against the counted total when one worker sees every example (with several, each worker reports its
    own count and rate)."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        left_out = drop_unanswering_baseline(input_dict, exec_properties)
        if left_out:
            artifact_utils.get_single_instance(output_dict[standard_component_specs.EVALUATION_KEY]).set_string_custom_property(
                BASELINE_LEFT_OUT_PROPERTY, left_out
            )
        total = None
        if one_local_worker(self._beam_pipeline_args):
            splits = json.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null") or _DEFAULT_SPLITS
            examples = input_dict[standard_component_specs.EXAMPLES_KEY]
            total = count_records([uri for split in splits for uri in artifact_utils.get_split_uris(examples, split)])
        with expected_examples(total), summarised_array_printing():
            super().Do(input_dict, output_dict, exec_properties)
