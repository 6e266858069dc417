"""Executor of TorchEvaluator: predictions -> TFMA metrics and gate -> ModelEvaluation + ModelBlessing."""

from __future__ import annotations

import os
from typing import Any

from tfx import types
from tfx.components.evaluator import constants
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils, proto_utils

from retrain.components.versioned_pusher.evaluation import BASELINE_LEFT_OUT_PROPERTY

PREDICTIONS_FILE = os.path.join("predictions", "predictions.tfrecord")


def _bless(blessing: types.Artifact, blessed: bool, model: types.Artifact, baseline: Any) -> None:
    """Marks the blessing like TFX's Evaluator does (BLESSED/NOT_BLESSED file and properties)."""
    io_utils.write_string_file(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    if baseline is not None:
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)


class Executor(base_executor.BaseExecutor):
    """Evaluates the candidate PyTorch model (against the baseline) on the eval split and blesses it or not.

    With several tasks each task is gated on its own (TFMA output name = task): blessed only when every task passes.
    """

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        import tensorflow_model_analysis as tfma
        import tensorflow_transform as tft

        from retrain.components.torch_evaluator.gate import evaluate_predictions, gated_labels
        from retrain.components.torch_evaluator.predictions import prediction_keys, predictions_for, write_predictions
        from retrain.components.torch_trainer.data import TransformedExamples, load_all, split_files

        model = artifact_utils.get_single_instance(input_dict["model"])
        baselines = input_dict.get("baseline_model") or []
        baseline = baselines[0] if baselines else None
        gate = tfma.EvalConfig()
        proto_utils.json_to_proto(exec_properties["eval_config"], gate)
        candidate_dir = path_utils.serving_model_path(model.uri)
        spec = tft.TFTransformOutput(artifact_utils.get_single_uri(input_dict["transform_graph"])).transformed_feature_spec()
        files = [path for artifact in input_dict["examples"] for path in split_files(artifact.uri, "eval")]
        label_features = gated_labels(gate)
        inputs, labels = load_all(TransformedExamples(files, spec, label_features=list(label_features.values())))
        baseline_dir = path_utils.serving_model_path(baseline.uri) if baseline else None
        probabilities, compared = predictions_for(candidate_dir, baseline_dir, inputs, [task for task in label_features if task])
        evaluation_uri = artifact_utils.get_single_uri(output_dict["evaluation"])
        predictions = os.path.join(evaluation_uri, PREDICTIONS_FILE)
        ids = labels.reshape(len(labels), -1)  # [N, tasks]
        write_predictions(predictions, {feature: ids[:, i].tolist() for i, feature in enumerate(label_features.values())}, probabilities)
        result = evaluate_predictions(predictions, gate, prediction_keys(compared), evaluation_uri)
        _bless(artifact_utils.get_single_instance(output_dict["blessing"]), result.validation_ok, model, baseline if compared else None)
        if baseline is not None and not compared:
            artifact_utils.get_single_instance(output_dict["evaluation"]).set_string_custom_property(
                BASELINE_LEFT_OUT_PROPERTY, f"the baseline model {baseline.uri} does not answer every task of the candidate"
            )
