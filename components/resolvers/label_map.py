"""Resolves, through MLMD lineage, the label map and warm-start model behind the latest blessed model."""

from __future__ import annotations

from typing import Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

from retrain.components.label_prep.component import EXAMPLES_KEY, PREVIOUS_LABEL_MAP_KEY
from retrain.components.resolvers.baseline import BLESSING_KEY, MODEL_KEY, latest_blessed_other_than

LABEL_MAP_KEY = "label_map"
BASE_MODEL_KEY = "base_model"  # the Trainer's warm-start input key
_MAX_HOPS = 4  # model <- Trainer <- transform graph <- Transform <- label map
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def upstream_artifact_ids(store: mlmd.MetadataStore, artifact_id: int, max_hops: int = _MAX_HOPS) -> list[int]:
    """Ids of the artifacts `artifact_id` was derived from, nearest first (breadth-first over executions)."""
    frontier, seen, found = [artifact_id], {artifact_id}, []
    for _ in range(max_hops):
        producers = {e.execution_id for e in store.get_events_by_artifact_ids(frontier) if e.type in _OUTPUTS}
        if not producers:
            break
        inputs = [e.artifact_id for e in store.get_events_by_execution_ids(list(producers)) if e.type in _INPUTS]
        frontier = [artifact for artifact in dict.fromkeys(inputs) if artifact not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


def label_map_of_model(store: mlmd.MetadataStore, model_id: int, label_maps: list[types.Artifact]) -> Optional[types.Artifact]:
    """The label map among `label_maps` that the model `model_id` was trained with, if any."""
    by_id = {label_map.id: label_map for label_map in label_maps}
    for artifact_id in upstream_artifact_ids(store, model_id):
        if artifact_id in by_id:
            return by_id[artifact_id]
    return None


def _inputs_of_producer(store: mlmd.MetadataStore, artifact_id: int) -> dict[str, set[int]]:
    """Input key -> artifact ids of the execution that produced `artifact_id`."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in _OUTPUTS]
    inputs: dict[str, set[int]] = {}
    for event in store.get_events_by_execution_ids(producers[:1]):
        if event.type in _INPUTS and event.path.steps:
            inputs.setdefault(event.path.steps[0].key, set()).add(event.artifact_id)
    return inputs


def seed_label_map(
    store: mlmd.MetadataStore, blessed_label_map: types.Artifact, examples_ids: set[int], label_maps: list[types.Artifact]
) -> Optional[types.Artifact]:
    """The previous label map to seed this run's LabelPrep with.

    Normally the label map of the latest blessed model. But when that map was
    itself computed from these very examples (a re-run on unchanged data), the
    map it was seeded with is returned instead, so LabelPrep sees the same inputs
    as then and is served from cache instead of re-numbering nothing and
    retraining everything downstream.
    """
    inputs = _inputs_of_producer(store, blessed_label_map.id)
    if inputs.get(EXAMPLES_KEY) != examples_ids:
        return blessed_label_map
    seeds = inputs.get(PREVIOUS_LABEL_MAP_KEY, set())
    return next((label_map for label_map in label_maps if label_map.id in seeds), None)


def warm_start_model(store: mlmd.MetadataStore, blessed_model: types.Artifact, rerun: bool, models: list[types.Artifact]) -> Optional[types.Artifact]:
    """The model to warm-start from: the latest blessed one, or on a re-run the one it started from."""
    if not rerun:
        return blessed_model
    bases = _inputs_of_producer(store, blessed_model.id).get(BASE_MODEL_KEY, set())
    return next((model for model in models if model.id in bases), None)


def resolve_previous_label_map(
    store: mlmd.MetadataStore,
    label_maps: list[types.Artifact],
    models: list[types.Artifact],
    blessings: list[types.Artifact],
    examples_ids: set[int],
) -> tuple[Optional[types.Artifact], Optional[types.Artifact], Optional[types.Artifact]]:
    """(warm-start model, blessing of the latest blessed model, seed label map) for a run on `examples_ids`.

    `label_map`: see `seed_label_map`; model: the latest blessed model, except on a
    re-run on unchanged data, where it is the model that run started from, so the
    Trainer sees the same inputs as then and stays cached.
    """
    model, blessing = latest_blessed_other_than(models, blessings, set())
    blessed_map = label_map_of_model(store, model.id, label_maps) if model else None
    seed = seed_label_map(store, blessed_map, examples_ids, label_maps) if blessed_map else None
    rerun = blessed_map is not None and seed is not blessed_map
    base = warm_start_model(store, model, rerun, models) if model else None
    return base, blessing, seed


class LatestBlessedLabelMapStrategy(resolver.ResolverStrategy):
    """Resolves the label map and warm-start model behind the latest blessed model (`resolve_previous_label_map`)."""

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]) -> Optional[dict[str, list[types.Artifact]]]:
        examples = input_dict.get(EXAMPLES_KEY, [])
        base, blessing, seed = resolve_previous_label_map(
            store,
            input_dict.get(LABEL_MAP_KEY, []),
            input_dict.get(MODEL_KEY, []),
            input_dict.get(BLESSING_KEY, []),
            {e.id for e in examples},
        )
        return {
            EXAMPLES_KEY: list(examples),
            MODEL_KEY: [base] if base else [],
            BLESSING_KEY: [blessing] if blessing else [],
            LABEL_MAP_KEY: [seed] if seed else [],
        }
