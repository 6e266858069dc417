"""What the container-step resolvers resolve, as plain functions over an ML Metadata store.

Each function gathers the candidates a local TFX channel would hand the matching
resolver strategy (every artifact of the type in the pipeline's context) and
then calls the very function the local strategy calls, so both paths share the
resolution logic. Artifacts are matched by lineage and URI, never by the ids TFX
writes into properties: on Kubeflow, TFX's container entrypoint hashes artifact
names into ids, so a blessing's `current_model_id` is not an MLMD id there.

Namespace scope: KFP keys the `system.Pipeline` context by the pipeline name
alone, so same-named pipelines of every namespace share it
(kubeflow/pipelines `backend/src/v2/metadata/client.go` `GetPipeline`, 2.4.0 and
2.5.0). Each run's `system.PipelineRun` context is its child and carries the
run's `namespace` custom property, and `PublishExecution` attributes a step's
outputs to both contexts. Given a `namespace`, candidates are the artifacts of
the pipeline's runs in that namespace only.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.input_resolution.strategies.span_range_strategy import SpanRangeStrategy
from tfx.types import artifact_utils

from retrain.components.resolvers.baseline import latest_blessed_other_than, pushed_model_ids
from retrain.components.resolvers.label_map import _inputs_of_producer, resolve_previous_label_map
from retrain.components.span_ranges import rolling_window
from retrain.components.resolvers.framework import framework_of

# MLMD type names per role: as TFX records them locally, and as the KFP v2 launcher records them.
MODEL_TYPES = ("Model", "tfx.Model")
BLESSING_TYPES = ("ModelBlessing", "tfx.ModelBlessing")
EXAMPLES_TYPES = ("Examples", "tfx.Examples")
LABEL_MAP_TYPES = ("retrain.LabelMap", "tfx.Artifact")  # KFP files custom TFX types under the generic schema
LABEL_MAP_OUTPUT_KEY = "label_map"  # LabelPrep's output key: tells label maps apart among generic artifacts
RESOLVED_FROM_PROPERTY = "resolved_from"  # set on a resolver step's outputs: the URIs they copy
RESOLVED_FROM_ID_PROPERTY = "resolved_from_id"  # on a resolver step's copy: the MLMD id of the artifact copied
_PIPELINE_CONTEXT_TYPES = ("pipeline", "system.Pipeline")
NAMESPACE_PROPERTY = "namespace"  # on KFP's system.PipelineRun contexts
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
# Integer custom properties that resolution reads: the Evaluator's `blessed`, ExampleGen's `span` and `version`, ours.
TFX_INT_PROPERTIES = (evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY, "span", "version", RESOLVED_FROM_ID_PROPERTY)


def tfx_int_properties(artifact: metadata_store_pb2.Artifact) -> metadata_store_pb2.Artifact:
    """`artifact` with TFX_INT_PROPERTIES that the KFP launcher recorded as doubles stored as ints again (in place)."""
    for key in TFX_INT_PROPERTIES:
        value = artifact.custom_properties.get(key)
        if value is not None and value.WhichOneof("value") == "double_value":
            value.int_value = int(value.double_value)
    return artifact


def scope_contexts(store: mlmd.MetadataStore, pipeline_name: str, namespace: Optional[str] = None) -> list[metadata_store_pb2.Context]:
    """The pipeline's context(s); with `namespace`, instead its run contexts recorded in that namespace."""
    pipelines = [c for t in _PIPELINE_CONTEXT_TYPES if (c := store.get_context_by_type_and_name(t, pipeline_name)) is not None]
    if namespace is None:
        return pipelines
    runs = [run for pipeline in pipelines for run in store.get_children_contexts_by_context(pipeline.id)]
    return [run for run in runs if run.custom_properties[NAMESPACE_PROPERTY].string_value == namespace]


def pipeline_artifacts(
    store: mlmd.MetadataStore, pipeline_name: str, type_names: Iterable[str], namespace: Optional[str] = None
) -> list[types.Artifact]:
    """Every artifact of one of `type_names` attributed to the pipeline `pipeline_name` (in `namespace`, when given), oldest first."""
    wanted = {artifact_type.id: artifact_type for artifact_type in store.get_artifact_types() if artifact_type.name in set(type_names)}
    found: dict[int, metadata_store_pb2.Artifact] = {}
    for context in scope_contexts(store, pipeline_name, namespace):
        for artifact in store.get_artifacts_by_context(context.id):
            if artifact.type_id in wanted:
                found[artifact.id] = artifact
    return [artifact_utils.deserialize_artifact(wanted[a.type_id], tfx_int_properties(a)) for _, a in sorted(found.items())]


def _output_keys(store: mlmd.MetadataStore, artifact_ids: Sequence[int]) -> dict[int, set[str]]:
    keys: dict[int, set[str]] = {}
    for event in store.get_events_by_artifact_ids(list(artifact_ids)):
        if event.type in _OUTPUTS and event.path.steps:
            keys.setdefault(event.artifact_id, set()).add(event.path.steps[0].key)
    return keys


def label_maps_of_pipeline(store: mlmd.MetadataStore, pipeline_name: str, namespace: Optional[str] = None) -> list[types.Artifact]:
    """The pipeline's label maps: typed ones, and generic artifacts that a step wrote as `label_map`."""
    artifacts = pipeline_artifacts(store, pipeline_name, LABEL_MAP_TYPES, namespace)
    keys = _output_keys(store, [a.id for a in artifacts])
    return [a for a in artifacts if a.type_name == LABEL_MAP_TYPES[0] or LABEL_MAP_OUTPUT_KEY in keys.get(a.id, set())]


def model_of_blessing(store: mlmd.MetadataStore, blessing_id: int) -> Optional[int]:
    """The id of the model the Evaluator blessed (its `model` input), from lineage."""
    return min(_inputs_of_producer(store, blessing_id).get("model", ()), default=None)


def blessings_by_lineage(store: mlmd.MetadataStore, blessings: Sequence[types.Artifact]) -> list[types.Artifact]:
    """The blessings with `current_model_id` set to their model's MLMD id (found through lineage)."""
    for blessing in blessings:
        model_id = model_of_blessing(store, blessing.id)
        if model_id is not None:
            blessing.set_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model_id)
    return list(blessings)


def models_of_pipeline(
    store: mlmd.MetadataStore, pipeline_name: str, framework: Optional[str] = None, namespace: Optional[str] = None
) -> list[types.Artifact]:
    """The pipeline's models; with `framework`, only that framework's (`framework_of`, as the local per-framework strategies)."""
    models = pipeline_artifacts(store, pipeline_name, MODEL_TYPES, namespace)
    return models if framework is None else [model for model in models if framework_of(model) == framework]


def ids_of_uris(store: mlmd.MetadataStore, uris: Iterable[str], type_names: Iterable[str]) -> set[int]:
    """MLMD ids of the artifacts of `type_names` stored at `uris` (how a container step recognises its inputs)."""
    type_ids = {t.id for t in store.get_artifact_types() if t.name in set(type_names)}
    return {a.id for uri in uris for a in store.get_artifacts_by_uri(uri) if a.type_id in type_ids}


def resolve_label_map_and_base_model(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    examples_uris: Sequence[str],
    framework: Optional[str] = None,
    namespace: Optional[str] = None,
) -> tuple[Optional[types.Artifact], Optional[types.Artifact]]:
    """(seed label map, warm-start model) for a run on the examples at `examples_uris`.

    Same semantics as the local `LatestBlessedLabelMapStrategy` (with `framework`:
    `LatestBlessedLabelMapOfFramework`): both call `resolve_previous_label_map`.
    """
    base, _, seed = resolve_previous_label_map(
        store,
        label_maps_of_pipeline(store, pipeline_name, namespace),
        models_of_pipeline(store, pipeline_name, framework, namespace),
        blessings_by_lineage(store, pipeline_artifacts(store, pipeline_name, BLESSING_TYPES, namespace)),
        ids_of_uris(store, examples_uris, EXAMPLES_TYPES),
    )
    return seed, base


def resolve_baseline_model(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    candidate_uris: Sequence[str],
    framework: Optional[str] = None,
    namespace: Optional[str] = None,
) -> Optional[types.Artifact]:
    """The deployed model (the latest blessed one a pusher pushed; before any push, the latest blessed one), never the candidate.

    As `LatestBlessedOtherModelStrategy` (with `framework`: `LatestBlessedOtherModelOfFramework`).
    """
    model, _ = latest_blessed_other_than(
        models_of_pipeline(store, pipeline_name, framework, namespace),
        blessings_by_lineage(store, pipeline_artifacts(store, pipeline_name, BLESSING_TYPES, namespace)),
        ids_of_uris(store, candidate_uris, MODEL_TYPES),
        pushed_model_ids(store),
    )
    return model


def resolve_span_window(store: mlmd.MetadataStore, producer_outputs: Sequence[types.Artifact], num_spans: int) -> list[types.Artifact]:
    """The examples of the newest `num_spans` spans, newest first (TFX's SpanRangeStrategy, as locally).

    `producer_outputs` are the Examples the pipeline's ExampleGen has written
    (`examples_written_by`), this run's included.
    """
    resolved = SpanRangeStrategy(rolling_window(num_spans)).resolve_artifacts(store, {"examples": list(producer_outputs)})
    return list((resolved or {}).get("examples", []))


def examples_written_by(store: mlmd.MetadataStore, pipeline_name: str, namespace: Optional[str] = None) -> list[types.Artifact]:
    """The pipeline's Examples that an ExampleGen wrote (output key `examples`), not copies made by a resolver step."""
    candidates = pipeline_artifacts(store, pipeline_name, EXAMPLES_TYPES, namespace)
    keys = _output_keys(store, [a.id for a in candidates])
    return [a for a in candidates if "examples" in keys.get(a.id, set()) and not a.has_custom_property(RESOLVED_FROM_PROPERTY)]
