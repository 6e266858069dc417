"""What the Evaluator measured: overall metrics per model, confusion matrices and the gate's thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.proto import metrics_for_slice_pb2
from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

from retrain.components.versioned_pusher.evaluation import MetricsKey, gated_tasks, overall_metrics

CONFUSION_MATRIX_PLOT = "multi_class_confusion_matrix_plot"
BASELINE = "baseline"


@dataclass(frozen=True)
class ClassScores:
    """One class: eval examples of it, precision and recall (None when undefined: never predicted / no examples)."""

    support: int
    precision: Optional[float]
    recall: Optional[float]


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (actual, predicted) class ids at the argmax prediction; `class_ids` index both axes."""

    class_ids: list[int]
    counts: np.ndarray

    def scores(self) -> dict[int, ClassScores]:
        """Per class id: support, precision (correct / predicted as it), recall (correct / actually it)."""
        scores = {}
        for index, class_id in enumerate(self.class_ids):
            correct, actual, predicted = self.counts[index, index], self.counts[index].sum(), self.counts[:, index].sum()
            scores[class_id] = ClassScores(
                support=int(actual),
                precision=float(correct / predicted) if predicted else None,
                recall=float(correct / actual) if actual else None,
            )
        return scores


@dataclass(frozen=True)
class Threshold:
    """One gate condition of the candidate (of one task, with several), the value it was checked against, and whether it held."""

    metric: str
    model: str
    condition: str
    value: Optional[float]
    passed: bool
    task: str = ""


@dataclass
class ModelResult:
    """One evaluated model's output: TFMA's model name, the task (TFMA output name; "" with one task), scalar metrics, their
    change vs. the baseline, confusion matrix."""

    name: str
    metrics: dict[str, float]
    diffs: dict[str, float] = field(default_factory=dict)
    confusion: Optional[ConfusionMatrix] = None
    task: str = ""

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE


@dataclass
class Evaluation:
    """The Evaluator's results: candidate model(s) first, then the baseline when there was one."""

    models: list[ModelResult]
    thresholds: list[Threshold] = field(default_factory=list)

    @property
    def baseline(self) -> Optional[ModelResult]:
        return next((model for model in self.models if model.is_baseline), None)

    @property
    def candidates(self) -> list[ModelResult]:
        return [model for model in self.models if not model.is_baseline]

    @property
    def tasks(self) -> list[str]:
        """The evaluated tasks in the gate's order ([""] for one unnamed output)."""
        return list(dict.fromkeys(model.task for model in self.models))

    def of_task(self, task: str) -> "Evaluation":
        """The models' results and thresholds of one task."""
        return Evaluation([model for model in self.models if model.task == task], [rule for rule in self.thresholds if rule.task == task])


def _confusion_matrix(matrices: metrics_for_slice_pb2.MultiClassConfusionMatrixAtThresholds) -> Optional[ConfusionMatrix]:
    if not matrices.matrices:
        return None
    entries = matrices.matrices[0].entries
    seen = {entry.actual_class_id for entry in entries} | {entry.predicted_class_id for entry in entries}
    ids = sorted(seen | set(range(max(seen) + 1))) if seen else []  # every class up to the highest id gets a row
    position = {class_id: index for index, class_id in enumerate(ids)}
    counts = np.zeros((len(ids), len(ids)))
    for entry in entries:
        counts[position[entry.actual_class_id], position[entry.predicted_class_id]] += entry.num_weighted_examples
    return ConfusionMatrix(ids, counts)


def _confusion_matrices(uri: str) -> dict[tuple[str, str], ConfusionMatrix]:
    """(model name, task) -> its confusion matrix on the overall slice."""
    matrices = {}
    for per_slice in tfma.load_plots(uri):
        if per_slice.slice_key.single_slice_keys:
            continue
        for entry in per_slice.plot_keys_and_values:
            if entry.key.name == CONFUSION_MATRIX_PLOT and entry.value.HasField("multi_class_confusion_matrix_at_thresholds"):
                matrix = _confusion_matrix(entry.value.multi_class_confusion_matrix_at_thresholds)
                if matrix is not None:
                    matrices[(entry.key.model_name, entry.key.output_name)] = matrix
    return matrices


def _condition(threshold: Union[tfma.GenericValueThreshold, tfma.GenericChangeThreshold]) -> str:
    if isinstance(threshold, tfma.GenericValueThreshold):
        bounds = []
        if threshold.HasField("lower_bound"):
            bounds.append(f">= {threshold.lower_bound.value:.4f} (minimum)")
        if threshold.HasField("upper_bound"):
            bounds.append(f"<= {threshold.upper_bound.value:.4f} (maximum)")
        return " and ".join(bounds)
    higher = threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    parts = []
    if threshold.HasField("absolute"):
        parts.append(f"change vs. baseline {'>=' if higher else '<='} {threshold.absolute.value:+.4f}")
    if threshold.HasField("relative"):
        parts.append(f"relative change vs. baseline {'>=' if higher else '<='} {threshold.relative.value:+.4f}")
    return " and ".join(parts)


def _thresholds(uri: str, metrics: dict[MetricsKey, dict[str, float]], result: tfma.ValidationResult) -> list[Threshold]:
    eval_config = load_eval_run(uri)[0]
    if eval_config is None:
        return []
    failed = {
        (failure.metric_key.name, failure.metric_key.model_name, failure.metric_key.output_name, failure.metric_key.is_diff)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    }
    baselines = {spec.name for spec in eval_config.model_specs if spec.is_baseline}
    thresholds = []
    for key, conditions in metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config).items():
        if key.model_name in baselines:  # TFMA gates candidates only
            continue
        task = key.output_name or ""
        value = metrics.get(MetricsKey(key.model_name, task, key.is_diff), {}).get(key.name)
        for _, threshold in conditions:
            passed = (key.name, key.model_name, task, key.is_diff) not in failed
            thresholds.append(Threshold(key.name, key.model_name, _condition(threshold), value, passed, task))
    return thresholds


def load_evaluation(uri: str) -> Evaluation:
    """Reads a ModelEvaluation artifact (TFMA output directory): with several tasks, one result per model and task, in the gate's task order."""
    metrics = overall_metrics(uri)
    matrices = _confusion_matrices(uri)
    order = gated_tasks(uri)
    outputs = {(key.model_name, key.output_name) for key in metrics if not key.is_diff} | set(matrices)
    ranked = sorted(outputs, key=lambda pair: (order.index(pair[1]) if pair[1] in order else len(order), pair[1], pair[0] == BASELINE, pair[0]))
    models = [
        ModelResult(
            name, metrics.get(MetricsKey(name, task, False), {}), metrics.get(MetricsKey(name, task, True), {}), matrices.get((name, task)), task
        )
        for name, task in ranked
    ]
    return Evaluation(models, _thresholds(uri, metrics, tfma.load_validation_result(uri)))
