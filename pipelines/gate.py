"""`eval_config_for(config)`: the evaluation gate (TFMA EvalConfig) both evaluators apply, per task with several tasks."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from retrain.components.hub_trainer.export import TASKS_SIGNATURE, TRANSFORM_SIGNATURE
from retrain.components.training_core.features import LABEL_ID
from retrain.components.training_core.tasks import task_label_id
from retrain.pipelines.config import RetrainConfig

PROBABILITIES = "probabilities"  # the serving signature's output the gate reads


def _threshold(config: RetrainConfig, task: str) -> tfma.MetricThreshold:
    evaluation = config.evaluation
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": evaluation.min_accuracy_of(task)}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -evaluation.max_accuracy_drop_of(task) - 1e-10},
        ),
    )


def _metrics(threshold: tfma.MetricThreshold, output_names: list[str]) -> tfma.MetricsSpec:
    return tfma.MetricsSpec(
        output_names=output_names,
        metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=threshold),
            tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        ],
    )


def eval_config_for(config: RetrainConfig) -> tfma.EvalConfig:
    """Accuracy gate: at least `min_accuracy`, and at most `max_accuracy_drop` below the baseline (`evaluation.tasks.<label>`
    where it sets them for a task).

    With several tasks every task is gated on its own output (TFMA output name = the task),
    so a model is blessed only when every task passes. The multi-class confusion matrix
    (argmax predictions) is computed for the report's confusion matrix and per-class
    precision/recall; it does not take part in the gate.
    """
    tasks = config.task.task_labels
    if len(tasks) == 1:
        model_spec = tfma.ModelSpec(
            signature_name="serving_default", label_key=LABEL_ID, prediction_key=PROBABILITIES, preprocessing_function_names=[TRANSFORM_SIGNATURE]
        )
        metrics_specs = [_metrics(_threshold(config, tasks[0]), [])]
    else:
        # TFMA 0.47 looks each output's predictions up by its output name (prediction_keys are not read): a signature of {task: probabilities}.
        model_spec = tfma.ModelSpec(
            signature_name=TASKS_SIGNATURE,
            label_keys={task: task_label_id(task) for task in tasks},
            preprocessing_function_names=[TRANSFORM_SIGNATURE],
        )
        metrics_specs = [_metrics(_threshold(config, task), [task]) for task in tasks]
    return tfma.EvalConfig(model_specs=[model_spec], slicing_specs=[tfma.SlicingSpec()], metrics_specs=metrics_specs)
