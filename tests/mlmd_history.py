"""Test data helper: real SQLite ML Metadata stores holding the lineage of three retrain runs.

Recorded either the way TFX records runs locally or the way the KFP v2 launcher
does (type names `tfx.*`, a `system.Pipeline` context, blessings naming their
model by a runtime-artifact name instead of an MLMD id, numbers such as `blessed`
and `span` as double values: kubeflow/pipelines `backend/src/v2/metadata/converter.go`
`StructValueToMLMDValue`, 2.4.0 and 2.5.0). With a namespace, KFP
runs also get the backend's `system.PipelineRun` context: a child of the shared
pipeline context with a `namespace` custom property, outputs attributed to both
(kubeflow/pipelines `backend/src/v2/metadata/client.go`, GetPipeline and
PublishExecution, 2.4.0 and 2.5.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator import constants as evaluator_constants
from tfx.types import artifact_utils, standard_artifacts

from retrain.components.label_prep.artifact import LabelMap

PIPELINE = "retrain-test"
_LOCAL_CLASSES = {
    "Examples": standard_artifacts.Examples,
    "Model": standard_artifacts.Model,
    "ModelBlessing": standard_artifacts.ModelBlessing,
    "retrain.LabelMap": LabelMap,
    "TransformGraph": standard_artifacts.TransformGraph,
}
_KFP_TYPE_NAMES = {
    "Examples": "tfx.Examples",
    "Model": "tfx.Model",
    "ModelBlessing": "tfx.ModelBlessing",
    "retrain.LabelMap": "tfx.Artifact",
    "TransformGraph": "tfx.TransformGraph",
}
_IN, _OUT = metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.OUTPUT


@dataclass
class History:
    """A store, its file, and the ids and URIs of what each run wrote, by name (E1, L1, M1, B1, ...)."""

    store: mlmd.MetadataStore
    path: Path
    ids: dict[str, int] = field(default_factory=dict)
    uris: dict[str, str] = field(default_factory=dict)


class _Recorder:
    """Writes artifacts, executions and events as TFX (local) or the KFP v2 launcher (kfp) does."""

    def __init__(self, store: mlmd.MetadataStore, root: Path, kfp: bool) -> None:
        self.store, self.root, self.kfp = store, root, kfp
        self.history = History(store, root.parent / "metadata.sqlite")
        context_type = store.put_context_type(metadata_store_pb2.ContextType(name="system.Pipeline" if kfp else "pipeline"))
        [self.context] = store.put_contexts([metadata_store_pb2.Context(type_id=context_type, name=PIPELINE)])
        self.contexts = [self.context]
        self.execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="system.ContainerExecution" if kfp else "step"))

    def start_run(self, run_id: str, namespace: str) -> None:
        """Records the following steps in a `system.PipelineRun` context of `namespace`, as the KFP driver does."""
        run_type = self.store.put_context_type(metadata_store_pb2.ContextType(name="system.PipelineRun"))
        run = metadata_store_pb2.Context(type_id=run_type, name=run_id)
        run.custom_properties["namespace"].string_value = namespace
        [run_context] = self.store.put_contexts([run])
        self.store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run_context, parent_id=self.context)])
        self.contexts = [self.context, run_context]

    def _type_id(self, local_name: str) -> int:
        """Locally the TFX class's type (with its properties); KFP registers bare `tfx.*` types."""
        if self.kfp:
            return self.store.put_artifact_type(metadata_store_pb2.ArtifactType(name=_KFP_TYPE_NAMES[local_name]))
        return self.store.put_artifact_type(_LOCAL_CLASSES[local_name]().artifact_type)

    def artifact(self, name: str, type_name: str, **custom: int) -> int:
        uri = self.root / name
        uri.mkdir(parents=True)
        (uri / "payload.txt").write_text(name)
        artifact = metadata_store_pb2.Artifact(type_id=self._type_id(type_name), uri=str(uri))
        for key, value in custom.items():
            if self.kfp:  # the launcher turns every metadata number into a double (converter.go StructValueToMLMDValue)
                artifact.custom_properties[key].double_value = value
            else:
                artifact.custom_properties[key].int_value = value
        if type_name == "Examples":
            splits = artifact.custom_properties if self.kfp else artifact.properties
            splits["split_names"].string_value = artifact_utils.encode_split_names(["train"])
        [artifact_id] = self.store.put_artifacts([artifact])
        self.history.ids[name], self.history.uris[name] = artifact_id, str(uri)
        return artifact_id

    def execution(self, inputs: dict[str, str], outputs: dict[str, str]) -> None:
        [execution_id] = self.store.put_executions([metadata_store_pb2.Execution(type_id=self.execution_type)])

        def event(name: str, key: str, kind: int) -> metadata_store_pb2.Event:
            result = metadata_store_pb2.Event(artifact_id=self.history.ids[name], execution_id=execution_id, type=kind)
            result.path.steps.add().key = key
            result.path.steps.add().index = 0
            return result

        self.store.put_events([event(n, k, _IN) for k, n in inputs.items()] + [event(n, k, _OUT) for k, n in outputs.items()])
        self.store.put_attributions_and_associations(
            [metadata_store_pb2.Attribution(context_id=c, artifact_id=self.history.ids[n]) for n in outputs.values() for c in self.contexts],
            [metadata_store_pb2.Association(context_id=c, execution_id=execution_id) for c in self.contexts],
        )

    def blessing(self, name: str, model: str, blessed: bool) -> None:
        self.artifact(name, "ModelBlessing", blessed=int(blessed))
        artifact = self.store.get_artifacts_by_id([self.history.ids[name]])[0]
        key = evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY
        if self.kfp:  # TFX's Kubeflow entrypoint writes the runtime artifact's name, not an MLMD id
            artifact.custom_properties[key].string_value = f"artifacts/{model}"
        else:
            artifact.custom_properties[key].int_value = self.history.ids[model]
        self.store.put_artifacts([artifact])
        self.execution({"model": model}, {"blessing": name})


def open_store(path: Path) -> mlmd.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return mlmd.MetadataStore(config)


def _run(recorder: _Recorder, run: int, span: int, previous_map: Optional[str], base_model: Optional[str], blessed: bool) -> None:
    """One pipeline run's lineage: examples E<run>, label map L<run>, graph G<run>, model M<run>, blessing B<run>."""
    e, l, g, m = f"E{run}", f"L{run}", f"G{run}", f"M{run}"
    recorder.artifact(e, "Examples", span=span)
    recorder.execution({}, {"examples": e})
    recorder.artifact(l, "retrain.LabelMap")
    recorder.execution({"examples": e, **({"previous_label_map": previous_map} if previous_map else {})}, {"label_map": l})
    recorder.artifact(g, "TransformGraph")
    recorder.execution({"examples": e, "label_map": l}, {"transform_graph": g})
    recorder.artifact(m, "Model")
    recorder.execution({"transform_graph": g, **({"base_model": base_model} if base_model else {})}, {"model": m})
    recorder.blessing(f"B{run}", m, blessed)


def record_history(root: Path, kfp: bool, namespace: Optional[str] = None, other_namespace: Optional[str] = None) -> History:
    """Run 1 (span 1) blessed; run 2 (span 2, seeded by run 1) blessed; run 3 (span 3) not blessed.

    KFP only: with `namespace`, each run has its run context in that namespace; with
    `other_namespace`, a same-named pipeline there then runs (run 9, span 9), blessed.
    """
    root.mkdir(parents=True, exist_ok=True)
    recorder = _Recorder(open_store(root / "metadata.sqlite"), root / "artifacts", kfp)
    for run, span, previous_map, base_model, blessed in ((1, 1, None, None, True), (2, 2, "L1", "M1", True), (3, 3, "L2", "M2", False)):
        if namespace is not None:
            recorder.start_run(f"run-{run}", namespace)
        _run(recorder, run, span=span, previous_map=previous_map, base_model=base_model, blessed=blessed)
    if other_namespace is not None:
        recorder.start_run("run-9", other_namespace)
        _run(recorder, 9, span=9, previous_map=None, base_model=None, blessed=True)
    return recorder.history
