"""Baseline for the evaluation gate: the deployed model (the latest blessed one that was pushed), never the candidate.

TFX's LatestBlessedModelStrategy can return the very model being evaluated (a
re-run on unchanged data reuses the cached model, which the previous run
blessed). Comparing a model with itself changes the Evaluator's inputs, so the
Evaluator and Pusher run again for nothing. This strategy also takes the
candidate and never returns it as its own baseline. A blessed model that the
Pusher refused (a duplicate, or too far below the best pushed model) is not
deployed, so it is not the baseline either; before anything was pushed the
latest blessed model is.
"""

from __future__ import annotations

from typing import Optional, Sequence

import ml_metadata as mlmd
from tfx import types
from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common import resolver

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


PUSHED_MODEL_TYPES = ("PushedModel", "tfx.PushedModel")  # as TFX records the type locally, and as the KFP v2 launcher does
_PUSHED_PROPERTY = "pushed"


def _says_pushed(artifact: metadata_store_pb2.Artifact) -> bool:
    """`pushed` is 1: an int as TFX records it, a double as the KFP launcher records every number (converter.go)."""
    value = artifact.custom_properties.get(_PUSHED_PROPERTY)
    kind = value.WhichOneof("value") if value is not None else None
    return kind in ("int_value", "double_value") and getattr(value, kind) == 1


def pushed_model_ids(store: mlmd.MetadataStore) -> set[int]:
    """Ids of the models a pusher deployed: the `model` input of each execution whose PushedModel says pushed."""
    pushed = [artifact.id for type_name in PUSHED_MODEL_TYPES for artifact in store.get_artifacts_by_type(type_name) if _says_pushed(artifact)]
    if not pushed:
        return set()
    outputs = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    pushers = {event.execution_id for event in store.get_events_by_artifact_ids(pushed) if event.type in outputs}
    inputs = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
    return {
        event.artifact_id
        for event in store.get_events_by_execution_ids(list(pushers))
        if event.type in inputs and event.path.steps and event.path.steps[0].key == MODEL_KEY
    }


def latest_blessed_other_than(
    models: Sequence[types.Artifact],
    blessings: Sequence[types.Artifact],
    excluded_model_ids: set[int],
    deployed_model_ids: Optional[set[int]] = None,
) -> tuple[Optional[types.Artifact], Optional[types.Artifact]]:
    """The newest model with a positive blessing whose id is not excluded, and that blessing.

    With `deployed_model_ids` holding any of `models`, only models among them count
    (deployments of models outside `models`, e.g. another namespace's, are ignored).
    """
    deployed_model_ids = (deployed_model_ids or set()) & {model.id for model in models}
    blessing_by_model = {
        blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY): blessing
        for blessing in sorted(blessings, key=lambda artifact: artifact.id)
        if blessing.get_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
    }
    for model in sorted(models, key=lambda artifact: artifact.id, reverse=True):
        if deployed_model_ids and model.id not in deployed_model_ids:
            continue
        if model.id not in excluded_model_ids and model.id in blessing_by_model:
            return model, blessing_by_model[model.id]
    return None, None


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
    """Resolves `model`/`model_blessing` to the deployed model (else the latest blessed one) that is not in `candidate`."""

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]) -> Optional[dict[str, list[types.Artifact]]]:
        candidates = input_dict.get(CANDIDATE_KEY, [])
        model, blessing = latest_blessed_other_than(
            input_dict.get(MODEL_KEY, []),
            input_dict.get(BLESSING_KEY, []),
            {artifact.id for artifact in candidates},
            pushed_model_ids(store),
        )
        return {
            CANDIDATE_KEY: list(candidates),
            MODEL_KEY: [model] if model else [],
            BLESSING_KEY: [blessing] if blessing else [],
        }
