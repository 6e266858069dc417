"""Resolver strategies that only consider models of one framework (TensorFlow or PyTorch).

With `trainer: both` the pipeline holds blessed models of both frameworks; each
trainer warm-starts from, and each gate compares against, the latest blessed
model of its own framework. A model's framework is its `framework` custom
property (set by TorchTrainer); models without it come from the original branch,
TFX's Trainer (components/branches.py).
"""

from __future__ import annotations

from typing import Optional

import ml_metadata as mlmd
from tfx import types

from retrain.components.resolvers.baseline import MODEL_KEY, LatestBlessedOtherModelStrategy
from retrain.components.branches import FRAMEWORK_PROPERTY, ORIGINAL
from retrain.components.resolvers.label_map import LatestBlessedLabelMapStrategy


def framework_of(model: types.Artifact) -> str:
    """`pytorch` for TorchTrainer models, the original branch's framework (`tensorflow`) for models without a framework property."""
    if model.has_custom_property(FRAMEWORK_PROPERTY):
        return model.get_string_custom_property(FRAMEWORK_PROPERTY)
    return ORIGINAL.framework


def _only(framework: str, input_dict: dict[str, list[types.Artifact]]) -> dict[str, list[types.Artifact]]:
    return {**input_dict, MODEL_KEY: [model for model in input_dict.get(MODEL_KEY, []) if framework_of(model) == framework]}


class _OfFramework:
    """Mixin: the strategy it precedes, given only the models of `framework`."""

    def __init__(self, framework: str = ORIGINAL.framework) -> None:
        self._framework = framework

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]) -> Optional[dict[str, list[types.Artifact]]]:
        return super().resolve_artifacts(store, _only(self._framework, input_dict))  # type: ignore[misc]


class LatestBlessedOtherModelOfFramework(_OfFramework, LatestBlessedOtherModelStrategy):
    """`LatestBlessedOtherModelStrategy` restricted to models of `framework` (the gate's baseline)."""


class LatestBlessedLabelMapOfFramework(_OfFramework, LatestBlessedLabelMapStrategy):
    """`LatestBlessedLabelMapStrategy` restricted to models of `framework` (label-map seed and warm-start model)."""
