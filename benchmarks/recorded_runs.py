"""An output directory whose ML Metadata store holds N finished `retrain run`s, written without running them.

The records have the shape TFX 1.16's local runners give a `retrain run` (compare a real
`retrain-output/metadata.sqlite`): a `pipeline` context, one `pipeline_run` context per run
(its child, marked `retrain_run_state=finished` as pipelines/run_states.py does), one `node`
context per node named `<pipeline>.<node id>`; each execution of the node's TFX type is
associated with all three, and its artifacts are linked by INPUT/OUTPUT events whose path is
(key, index 0). The files history and the run summary read are written by the real writers:
the label map by LabelPrep's `save_label_map`, the Evaluator's metrics and validation result with
TFMA's protos and TensorFlow's record writer, so TensorFlow and TFMA load here, in the builder only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from retrain.pipelines.report.runs import PIPELINE_CONTEXT, RUN_CONTEXT
from retrain.pipelines.run_states import FINISHED, STATE_PROPERTY
from retrain.pipelines.run_summary import open_store

PIPELINE = "retrain-bench"
ACCURACY_METRIC = "sparse_categorical_accuracy"
MIN_ACCURACY = 0.5
_IN, _OUT = metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.OUTPUT
# (node id, execution type, {input key: producing node's output key}, {output key: artifact type}) in run order.
_NODES = (
    ("CsvExampleGen", "tfx.components.example_gen.csv_example_gen.component.CsvExampleGen", {}, {"examples": "Examples"}),
    ("StatisticsGen", "tfx.components.statistics_gen.component.StatisticsGen", {"examples": "examples"}, {"statistics": "ExampleStatistics"}),
    ("SchemaGen", "tfx.components.schema_gen.component.SchemaGen", {"statistics": "statistics"}, {"schema": "Schema"}),
    (
        "ExampleValidator",
        "tfx.components.example_validator.component.ExampleValidator",
        {"statistics": "statistics", "schema": "schema"},
        {"anomalies": "ExampleAnomalies"},
    ),
    ("LabelPrep", "retrain.components.label_prep.component.LabelPrep", {"examples": "examples"}, {"label_map": "retrain.LabelMap"}),
    (
        "LabelMappedTransform",
        "retrain.components.label_transform.component.LabelMappedTransform",
        {"examples": "examples", "label_map": "label_map"},
        {"transform_graph": "TransformGraph"},
    ),
    ("Trainer", "tfx.components.trainer.component.Trainer", {"transform_graph": "transform_graph"}, {"model": "Model", "model_run": "ModelRun"}),
    (
        "Evaluator",
        "tfx.components.evaluator.component.Evaluator",
        {"model": "model", "examples": "examples"},
        {"blessing": "ModelBlessing", "evaluation": "ModelEvaluation"},
    ),
    (
        "VersionedPusher",
        "retrain.components.versioned_pusher.component.VersionedPusher",
        {"model": "model", "model_evaluation": "evaluation", "model_blessing": "blessing"},
        {"pushed_model": "PushedModel"},
    ),
)


@dataclass(frozen=True)
class RecordedRun:
    """What one recorded run shows in `retrain history`."""

    span: int
    accuracy: float
    pushed_version: int


def _write_evaluation(directory: Path, accuracy: float) -> None:
    """A passed evaluation as TFMA 0.47 writes it: overall-slice metrics, the validation result and the eval config."""
    import tensorflow as tf
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

    metrics = metrics_for_slice_pb2.MetricsForSlice()
    metrics.slice_key.SetInParent()
    entry = metrics.metric_keys_and_values.add()
    entry.key.name = ACCURACY_METRIC
    entry.value.double_value.value = accuracy
    directory.mkdir(parents=True)
    for name, message in (
        ("metrics-00000-of-00001.tfrecord", metrics),
        ("validations.tfrecord", validation_result_pb2.ValidationResult(validation_ok=True)),
    ):
        with tf.io.TFRecordWriter(str(directory / name)) as writer:
            writer.write(message.SerializeToString())
    threshold = {"valueThreshold": {"lowerBound": MIN_ACCURACY}}
    metric_specs = [{"metrics": [{"className": "SparseCategoricalAccuracy", "threshold": threshold}], "modelNames": [""]}]
    eval_config = {"modelSpecs": [{"labelKey": "label_id", "predictionKey": "probabilities"}], "slicingSpecs": [{}], "metricsSpecs": metric_specs}
    (directory / "eval_config.json").write_text(json.dumps({"evalConfig": eval_config, "version": "0.47.1"}))


def _write_label_map(directory: Path) -> None:
    from retrain.components.label_prep.label_map import LabelMap, save_label_map

    directory.mkdir(parents=True)
    save_label_map(LabelMap(labels=["cat", "dog"], counts={"train": {"cat": 10, "dog": 10}}, class_weights=[1.0, 1.0]), str(directory))


class _Recorder:
    def __init__(self, store: mlmd.MetadataStore, output: Path, pipeline: str) -> None:
        self.store, self.output = store, output
        context_type = store.put_context_type(metadata_store_pb2.ContextType(name=PIPELINE_CONTEXT))
        [pipeline_id] = store.put_contexts([metadata_store_pb2.Context(type_id=context_type, name=pipeline)])
        self.run_type = store.put_context_type(metadata_store_pb2.ContextType(name=RUN_CONTEXT))
        node_type = store.put_context_type(metadata_store_pb2.ContextType(name="node"))
        node_ids = store.put_contexts([metadata_store_pb2.Context(type_id=node_type, name=f"{pipeline}.{node}") for node, *_ in _NODES])
        [self.pipeline] = store.get_contexts_by_id([pipeline_id])
        self.nodes = dict(zip([node for node, *_ in _NODES], store.get_contexts_by_id(node_ids)))
        self.execution_types = {kind: store.put_execution_type(metadata_store_pb2.ExecutionType(name=kind)) for _, kind, _, _ in _NODES}
        examples = metadata_store_pb2.ArtifactType(name="Examples")
        for name, kind in (("span", metadata_store_pb2.INT), ("version", metadata_store_pb2.INT), ("split_names", metadata_store_pb2.STRING)):
            examples.properties[name] = kind
        self.artifact_types = {"Examples": store.put_artifact_type(examples)}
        for _, _, _, outputs in _NODES:
            for kind in outputs.values():
                if kind not in self.artifact_types:
                    self.artifact_types[kind] = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=kind))

    def _artifact(self, kind: str, uri: Path, run: RecordedRun) -> metadata_store_pb2.Artifact:
        artifact = metadata_store_pb2.Artifact(type_id=self.artifact_types[kind], uri=str(uri), state=metadata_store_pb2.Artifact.LIVE)
        properties = artifact.custom_properties
        if kind == "Examples":
            artifact.properties["split_names"].string_value = '["train", "eval"]'
            properties["span"].int_value = run.span
        elif kind == "ModelBlessing":
            properties["blessed"].int_value = 1
        elif kind == "ModelEvaluation":
            _write_evaluation(uri, run.accuracy)
        elif kind == "retrain.LabelMap":
            _write_label_map(uri)
        elif kind == "PushedModel":
            properties["pushed"].int_value = 1
            properties["pushed_version"].string_value = str(run.pushed_version)
            properties["pushed_destination"].string_value = str(self.output / "serving" / "model" / str(run.pushed_version))
            properties["push_outcome"].string_value = f"pushed as version {run.pushed_version}"
        return artifact

    def record(self, run_id: str, run: RecordedRun) -> None:
        """One finished run: every node's execution with its artifacts and events, in the run's contexts (one `put_execution` each, as TFX does)."""
        [run_id_] = self.store.put_contexts([metadata_store_pb2.Context(type_id=self.run_type, name=run_id)])
        self.store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run_id_, parent_id=self.pipeline.id)])
        [run_context] = self.store.get_contexts_by_id([run_id_])
        produced: dict[str, metadata_store_pb2.Artifact] = {}
        for node, kind, inputs, outputs in _NODES:
            execution = metadata_store_pb2.Execution(type_id=self.execution_types[kind], last_known_state=metadata_store_pb2.Execution.COMPLETE)
            root = self.output / "pipeline_root" / node
            created = {key: self._artifact(output_kind, root / key / f"{run_id}", run) for key, output_kind in outputs.items()}
            pairs = [(produced[source], _event(key, _IN)) for key, source in inputs.items()]
            pairs += [(artifact, _event(key, _OUT)) for key, artifact in created.items()]
            _, artifact_ids, _ = self.store.put_execution(execution, pairs, [self.pipeline, run_context, self.nodes[node]], force_reuse_context=True)
            for (key, artifact), artifact_id in zip(created.items(), artifact_ids[len(inputs) :]):
                artifact.id = artifact_id
                produced[key] = artifact
        run_context.custom_properties[STATE_PROPERTY].string_value = FINISHED
        self.store.put_contexts([run_context])


def _event(key: str, kind: int) -> metadata_store_pb2.Event:
    event = metadata_store_pb2.Event(type=kind)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


def recorded_run(number: int) -> RecordedRun:
    """Run `number` (from 1): span `number`, a deterministic accuracy, pushed as version `number`."""
    return RecordedRun(span=number, accuracy=round(0.8 + (number % 7) / 100, 4), pushed_version=number)


def record_runs(output: Path, count: int, pipeline: str = PIPELINE) -> Path:
    """Writes `output/metadata.sqlite` with runs 1..`count` (see recorded_run) of `pipeline`; returns the store's path."""
    output.mkdir(parents=True, exist_ok=True)
    metadata_path = output / "metadata.sqlite"
    recorder = _Recorder(open_store(metadata_path), output, pipeline)
    for number in range(1, count + 1):
        recorder.record(f"20261201-{number // 3600:02d}{number // 60 % 60:02d}{number % 60:02d}.{number:06d}", recorded_run(number))
    return metadata_path
