"""Baseline for the evaluation gate: the latest blessed model other than the candidate itself.

TFX's LatestBlessedModelStrategy can return the very model being evaluated (a
re-run on unchanged data reuses the cached model, which the previous run
blessed). Comparing a model with itself changes the Evaluator's inputs, so the
Evaluator and Pusher run again for nothing. This strategy also takes the
candidate and never returns it as its own baseline.
"""
from __future__ import annotations

from typing import Optional, Sequence

import ml_metadata as mlmd
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common import resolver

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


def latest_blessed_other_than(
    models: Sequence[types.Artifact], blessings: Sequence[types.Artifact], excluded_model_ids: set[int]
) -> tuple[Optional[types.Artifact], Optional[types.Artifact]]:
    """The newest model with a positive blessing whose id is not excluded, and that blessing."""
    blessing_by_model = {
        blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY): blessing
        for blessing in sorted(blessings, key=lambda artifact: artifact.id)
        if blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
    }
    for model in sorted(models, key=lambda artifact: artifact.id, reverse=True):
        if model.id not in excluded_model_ids and model.id in blessing_by_model:
            return model, blessing_by_model[model.id]
    return None, None


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
    """Resolves `model`/`model_blessing` to the latest blessed model that is not in `candidate`."""

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> Optional[dict[str, list[types.Artifact]]]:
        candidates = input_dict.get(CANDIDATE_KEY, [])
        model, blessing = latest_blessed_other_than(
            input_dict.get(MODEL_KEY, []), input_dict.get(BLESSING_KEY, []), {artifact.id for artifact in candidates}
        )
        return {
            CANDIDATE_KEY: list(candidates),
            MODEL_KEY: [model] if model else [],
            BLESSING_KEY: [blessing] if blessing else [],
        }
