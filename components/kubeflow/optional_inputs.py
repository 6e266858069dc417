"""Executors for the steps that consume a resolver step's output, dropping outputs that resolved nothing.

On Kubeflow a resolver step always writes an artifact; an empty one (see
executor.emit) means "no previous label map / warm-start model / baseline".
These subclasses remove such inputs before the stock executor runs, so LabelPrep,
Trainer, Evaluator, TorchTrainer and TorchEvaluator behave as they do locally when
a resolver returns nothing. Their Kubeflow component classes (consumers.py) run them.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor

from retrain.components.evaluator_progress import executor as evaluator_executor
from retrain.components.resolvers.kfp.executor import is_resolved
from retrain.components.kubeflow.runtime_epochs import apply_requested_epochs
from retrain.components.label_prep import executor as label_prep_executor
from retrain.components.torch_evaluator import executor as torch_evaluator_executor
from retrain.components.torch_trainer import executor as torch_trainer_executor

# Input keys fed by resolver steps.
OPTIONAL_INPUT_KEYS = ("previous_label_map", "base_model", "baseline_model")


def drop_unresolved(input_dict: dict[str, list[types.Artifact]]) -> dict[str, list[types.Artifact]]:
    """`input_dict` without the resolver-fed inputs that resolved nothing."""
    kept = dict(input_dict)
    for key in OPTIONAL_INPUT_KEYS:
        resolved = [artifact for artifact in kept.get(key, []) if is_resolved(artifact)]
        if key in kept and not resolved:
            del kept[key]
        elif key in kept:
            kept[key] = resolved
    return kept


class _DropUnresolved:
    """Mixin: runs the stock executor's `Do` without the resolver-fed inputs that resolved nothing."""

    @staticmethod
    def _properties(exec_properties: dict[str, Any]) -> dict[str, Any]:
        return exec_properties

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        super().Do(drop_unresolved(input_dict), output_dict, self._properties(exec_properties))  # type: ignore[misc]


class _DropUnresolvedWithEpochs(_DropUnresolved):
    """As _DropUnresolved, with the run's `epochs` written into `custom_config`."""

    _properties = staticmethod(apply_requested_epochs)


class LabelPrepExecutor(_DropUnresolved, label_prep_executor.Executor):
    """LabelPrep without a previous label map when the resolver step found none."""


class TrainerExecutor(_DropUnresolvedWithEpochs, trainer_executor.GenericExecutor):
    """Trainer without a warm-start model when the resolver step found none, and with the run's `epochs`."""


class EvaluatorExecutor(_DropUnresolved, evaluator_executor.Executor):
    """Evaluator without a baseline when the resolver step found none."""


class TorchTrainerExecutor(_DropUnresolvedWithEpochs, torch_trainer_executor.Executor):
    """TorchTrainer without a warm-start model when the resolver step found none, and with the run's `epochs`."""


class TorchEvaluatorExecutor(_DropUnresolved, torch_evaluator_executor.Executor):
    """TorchEvaluator without a baseline when the resolver step found none."""
