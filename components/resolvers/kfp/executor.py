"""Executors of the container-step resolvers: query ML Metadata (in the step's namespace), then copy what was resolved.

A resolved artifact is copied into the step's own output (its local mirror path,
which the launcher uploads under this run's root and records with this run's URI):
the KFP v2 launcher refuses to upload an output URI outside this run's root
(`uploadOutputArtifacts` -> `Config.KeyFromURI`, "does not have expected bucket
prefix"; kubeflow/pipelines `backend/src/v2/component/launcher_v2.go`,
`objectstore/config.go`, 2.4.0 and 2.5.0), so a step cannot report another run's
URI as its output. object_store.py reads the resolved files with the access the
launcher had. Provenance travels as custom properties: `resolved_from` (the
source URI) and `resolved_from_id` (its MLMD id); a copy of a copy names the
original. When nothing resolves, the output stays where the driver put it, empty,
with `resolved_from` empty, which `optional_inputs.drop_unresolved` turns back
into "no input" for LabelPrep, Trainer and Evaluator.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional

import ml_metadata as mlmd
from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from retrain.components.resolvers.kfp import lineage, object_store
from retrain.components.kubeflow.mirror import uri_of
from retrain.components.resolvers.kfp.namespace import step_namespace


def open_store(connection: str) -> mlmd.MetadataStore:
    """An MLMD store from a `metadata_connection` parameter: {"host", "port"} (gRPC) or {"sqlite": path}."""
    settings = json.loads(connection)
    if "sqlite" in settings:
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = settings["sqlite"]
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        return mlmd.MetadataStore(config)
    return mlmd.MetadataStore(metadata_store_pb2.MetadataStoreClientConfig(host=settings["host"], port=int(settings["port"])))


def provenance(resolved: types.Artifact) -> tuple[str, int]:
    """(URI, MLMD id) of the artifact `resolved` stands for: itself, or for a resolver's copy, its source."""
    if is_resolved(resolved) and resolved.has_custom_property(lineage.RESOLVED_FROM_ID_PROPERTY):
        return resolved.get_string_custom_property(lineage.RESOLVED_FROM_PROPERTY), resolved.get_int_custom_property(
            lineage.RESOLVED_FROM_ID_PROPERTY
        )
    return resolved.uri, resolved.id


def emit(resolved: Optional[types.Artifact], output: types.Artifact) -> None:
    """Copies `resolved` into `output` and names its source; with nothing resolved, leaves `output` an empty directory."""
    if resolved is None:
        fileio.makedirs(output.uri)
        output.set_string_custom_property(lineage.RESOLVED_FROM_PROPERTY, "")
        return
    object_store.download(resolved.uri, object_store.session_of(resolved), output.uri)
    source_uri, source_id = provenance(resolved)
    output.set_string_custom_property(lineage.RESOLVED_FROM_PROPERTY, source_uri)
    output.set_int_custom_property(lineage.RESOLVED_FROM_ID_PROPERTY, source_id)


def is_resolved(artifact: types.Artifact) -> bool:
    """False for the empty output a resolver step writes when nothing resolved."""
    return bool(artifact.has_custom_property(lineage.RESOLVED_FROM_PROPERTY) and artifact.get_string_custom_property(lineage.RESOLVED_FROM_PROPERTY))


def _uris(artifacts: list[types.Artifact]) -> list[str]:
    """The inputs' URIs as ML Metadata records them (inputs arrive at the launcher's mirror paths)."""
    return [uri_of(artifact.uri) for artifact in artifacts]


class LabelMapLineageExecutor(base_executor.BaseExecutor):
    """Resolves the seed label map and warm-start model for this run's examples (of `framework` only, when set)."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        store = open_store(exec_properties["metadata_connection"])
        label_map, model = lineage.resolve_label_map_and_base_model(
            store, exec_properties["pipeline_name"], _uris(input_dict["examples"]), exec_properties.get("framework"), step_namespace()
        )
        logging.info("previous label map: %s; warm-start model: %s", label_map and label_map.uri, model and model.uri)
        emit(label_map, artifact_utils.get_single_instance(output_dict["label_map"]))
        emit(model, artifact_utils.get_single_instance(output_dict["model"]))


class BaselineModelExecutor(base_executor.BaseExecutor):
    """Resolves the evaluation baseline for the candidate model (of `framework` only, when set)."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        store = open_store(exec_properties["metadata_connection"])
        model = lineage.resolve_baseline_model(
            store, exec_properties["pipeline_name"], _uris(input_dict["candidate"]), exec_properties.get("framework"), step_namespace()
        )
        logging.info("baseline model: %s", model and model.uri)
        emit(model, artifact_utils.get_single_instance(output_dict["model"]))


class SpanWindowExecutor(base_executor.BaseExecutor):
    """Merges the newest `num_spans` spans into one Examples artifact, split by split."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        store = open_store(exec_properties["metadata_connection"])
        written = lineage.examples_written_by(store, exec_properties["pipeline_name"], step_namespace())
        known = {artifact.uri for artifact in written}
        candidates = written + [latest for latest in input_dict["latest"] if uri_of(latest.uri) not in known]
        window = lineage.resolve_span_window(store, candidates, exec_properties["num_spans"])
        downloaded = {uri_of(latest.uri): latest.uri for latest in input_dict["latest"]}
        with tempfile.TemporaryDirectory(prefix="span-window-") as scratch:
            paths = []
            for index, examples in enumerate(window):
                path = downloaded.get(examples.uri, examples.uri)  # this run's span: at its mirror path
                if path.startswith(object_store.OBJECT_STORE_SCHEMES):  # an earlier run's: read from the object store
                    path = os.path.join(scratch, str(index))
                    object_store.download(examples.uri, object_store.session_of(examples), path)
                paths.append(path)
            merge_examples(window, artifact_utils.get_single_instance(output_dict["examples"]), paths)


def span_of(examples: types.Artifact) -> int:
    """An Examples artifact's span: ExampleGen records it as a custom property (SpanRangeStrategy reads it there)."""
    return examples.get_int_custom_property("span") if examples.has_custom_property("span") else examples.span


def split_names_of(examples: types.Artifact) -> list[str]:
    """Split names from the `split_names` property, or the custom property where KFP's MLMD types lack properties."""
    if "split_names" in examples.artifact_type.properties:
        return artifact_utils.decode_split_names(examples.split_names)
    return artifact_utils.decode_split_names(examples.get_string_custom_property("split_names") or "[]")


def merge_examples(window: list[types.Artifact], output: types.Artifact, paths: Optional[list[str]] = None) -> None:
    """Copies every split of every artifact in `window` into `output` (file names prefixed by span and id).

    `paths`: where each artifact of `window` can be read (default: its URI).
    """
    readable = paths or [examples.uri for examples in window]
    splits: set[str] = set()
    for examples, path in sorted(zip(window, readable), key=lambda pair: (span_of(pair[0]), pair[0].id)):
        for split in split_names_of(examples):
            source = os.path.join(path, f"Split-{split}")  # TFX's current split layout
            target = os.path.join(output.uri, f"Split-{split}")
            fileio.makedirs(target)
            for name in fileio.listdir(source):
                fileio.copy(os.path.join(source, name), os.path.join(target, f"span-{span_of(examples)}-{examples.id}-{name}"))
            splits.add(split)
    spans = sorted({span_of(examples) for examples in window})
    output.split_names = artifact_utils.encode_split_names(sorted(splits))
    output.span = spans[-1] if spans else 0
    output.set_int_custom_property("span", output.span)
    output.set_string_custom_property("spans", ",".join(str(span) for span in spans))
    output.set_string_custom_property(lineage.RESOLVED_FROM_PROPERTY, ",".join(uri_of(e.uri) for e in window))
