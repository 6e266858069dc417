"""The container-step resolvers return what the local resolver strategies return, on the same ML Metadata.

The stores are real SQLite MLMD files holding the lineage of three pipeline runs
(ExampleGen -> LabelPrep -> Transform -> Trainer -> Evaluator), recorded once the
way TFX records them locally and once the way the KFP v2 launcher does
(tests/mlmd_history.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import ml_metadata as mlmd
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2
from digits_records import write_digit_records
from mlmd_history import PIPELINE, History, record_history
from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.input_resolution.strategies.span_range_strategy import SpanRangeStrategy
from tfx.types import artifact_utils, standard_artifacts

from retrain.components.resolvers.baseline import BLESSING_KEY, CANDIDATE_KEY, MODEL_KEY, LatestBlessedOtherModelStrategy, pushed_model_ids
from retrain.components.resolvers.kfp import lineage
from retrain.components.resolvers.kfp.component import sqlite_connection
from retrain.components.span_ranges import rolling_window
from retrain.components.kubeflow.example_gen import SpanResolvingExampleGen, resolve_span
from retrain.components.resolvers.kfp.executor import (
    BaselineModelExecutor,
    LabelMapLineageExecutor,
    SpanWindowExecutor,
    is_resolved,
)
from retrain.components.resolvers.kfp.namespace import NAMESPACE_ENV
from retrain.components.kubeflow.optional_inputs import drop_unresolved
from retrain.components.kubeflow.runtime_epochs import apply_requested_epochs
from retrain.components.trainer_settings import trainer_custom_config
from retrain.pipelines.config import config_from_dict
from retrain.pipelines.trainer_settings import trainer_settings_for
from retrain.components.label_prep.artifact import LabelMap
from retrain.components.resolvers.label_map import EXAMPLES_KEY, LABEL_MAP_KEY, LatestBlessedLabelMapStrategy
from retrain.components.branches import FRAMEWORK_PROPERTY, PYTORCH, TENSORFLOW
from retrain.components.resolvers.framework import LatestBlessedLabelMapOfFramework, LatestBlessedOtherModelOfFramework


@pytest.fixture(scope="module")
def local_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return record_history(tmp_path_factory.mktemp("local"), kfp=False)


@pytest.fixture(scope="module")
def kfp_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return record_history(tmp_path_factory.mktemp("kfp"), kfp=True)


def _channel(store: mlmd.MetadataStore, type_name: str) -> list[types.Artifact]:
    """What a local, pipeline-scoped channel of `type_name` hands a resolver strategy: every such artifact."""
    [artifact_type] = [t for t in store.get_artifact_types() if t.name == type_name]
    return [artifact_utils.deserialize_artifact(artifact_type, a) for a in store.get_artifacts_by_type(type_name)]


def _names(history: History, artifacts: list[types.Artifact]) -> list[str]:
    by_uri = {uri: name for name, uri in history.uris.items()}
    return [by_uri[artifact.uri] for artifact in artifacts]


def _local_label_map(
    history: History, examples: list[str], strategy: LatestBlessedLabelMapStrategy = LatestBlessedLabelMapStrategy()
) -> tuple[list[str], list[str]]:
    store = history.store
    wanted = {history.ids[name] for name in examples}
    resolved = strategy.resolve_artifacts(
        store,
        {
            EXAMPLES_KEY: [a for a in _channel(store, "Examples") if a.id in wanted],
            MODEL_KEY: _channel(store, "Model"),
            BLESSING_KEY: _channel(store, "ModelBlessing"),
            LABEL_MAP_KEY: _channel(store, "retrain.LabelMap"),
        },
    )
    return _names(history, resolved[LABEL_MAP_KEY]), _names(history, resolved[MODEL_KEY])


def _container_label_map(history: History, examples: list[str], framework: str | None = None) -> tuple[list[str], list[str]]:
    uris = [history.uris[n] for n in examples]
    label_map, model = lineage.resolve_label_map_and_base_model(history.store, PIPELINE, uris, framework)
    return _names(history, [label_map] if label_map else []), _names(history, [model] if model else [])


@pytest.mark.parametrize(
    ("examples", "expected"),
    [
        (["E3"], (["L2"], ["M2"])),  # run 3's data: seeded by the latest blessed model (run 2) and its label map
        (["E2"], (["L1"], ["M1"])),  # re-run of run 2 on unchanged data: the same inputs as run 2 had
        (["E1"], (["L2"], ["M2"])),  # run 1's data again after run 2: new data relative to the latest blessed model
    ],
)
def test_label_map_resolver_matches_the_local_strategy(
    local_history: History, kfp_history: History, examples: list[str], expected: tuple[list[str], list[str]]
) -> None:
    assert _local_label_map(local_history, examples) == expected
    assert _container_label_map(local_history, examples) == expected
    assert _container_label_map(kfp_history, examples) == expected


def _local_baseline(history: History, candidate: str, strategy: LatestBlessedOtherModelStrategy = LatestBlessedOtherModelStrategy()) -> list[str]:
    store = history.store
    resolved = strategy.resolve_artifacts(
        store,
        {
            CANDIDATE_KEY: [a for a in _channel(store, "Model") if a.id == history.ids[candidate]],
            MODEL_KEY: _channel(store, "Model"),
            BLESSING_KEY: _channel(store, "ModelBlessing"),
        },
    )
    return _names(history, resolved[MODEL_KEY])


@pytest.mark.parametrize(("candidate", "expected"), [("M3", ["M2"]), ("M2", ["M1"]), ("M1", ["M2"])])
def test_baseline_resolver_matches_the_local_strategy(local_history: History, kfp_history: History, candidate: str, expected: list[str]) -> None:
    assert _local_baseline(local_history, candidate) == expected
    for history in (local_history, kfp_history):
        model = lineage.resolve_baseline_model(history.store, PIPELINE, [history.uris[candidate]])
        assert _names(history, [model] if model else []) == expected


def test_blessings_the_launcher_recorded_as_doubles_count_as_blessed(kfp_history: History) -> None:
    """The launcher records the Evaluator's `blessed: 1` as double 1.0, which TFX's get_int_custom_property reads as 0."""
    store = kfp_history.store
    [blessing] = store.get_artifacts_by_id([kfp_history.ids["B2"]])
    assert blessing.custom_properties["blessed"].WhichOneof("value") == "double_value"
    label_map, model = lineage.resolve_label_map_and_base_model(store, PIPELINE, [kfp_history.uris["E3"]])
    baseline = lineage.resolve_baseline_model(store, PIPELINE, [kfp_history.uris["M3"]])
    assert _names(kfp_history, [a for a in (label_map, model, baseline) if a]) == ["L2", "M2", "M2"]


@pytest.fixture(scope="module")
def mixed_histories(tmp_path_factory: pytest.TempPathFactory) -> tuple[History, History]:
    """Local and KFP stores where run 2's model (M2) is a TorchTrainer model (`framework: pytorch`), M1 and M3 TF ones."""
    histories = []
    for kfp in (False, True):
        history = record_history(tmp_path_factory.mktemp("mixed"), kfp=kfp)
        [model] = history.store.get_artifacts_by_id([history.ids["M2"]])
        model.custom_properties[FRAMEWORK_PROPERTY].string_value = PYTORCH  # as TorchTrainer's executor sets it
        history.store.put_artifacts([model])
        histories.append(history)
    return histories[0], histories[1]


@pytest.mark.parametrize(
    ("framework", "baselines", "label_maps"),
    [
        # TF: M2 (PyTorch) is skipped, so M1 is the latest blessed TF model; re-running run 1's data: run 1's inputs (none)
        (TENSORFLOW, {"M3": ["M1"], "M2": ["M1"], "M1": []}, {"E3": (["L1"], ["M1"]), "E1": ([], [])}),
        # PyTorch: only M2 counts; re-running run 2's data seeds with L1 and has no PyTorch model to start from
        (PYTORCH, {"M3": ["M2"], "M2": [], "M1": ["M2"]}, {"E3": (["L2"], ["M2"]), "E2": (["L1"], [])}),
    ],
)
def test_resolvers_of_one_framework_pick_only_its_models_as_the_local_strategies_do(
    mixed_histories: tuple[History, History], framework: str, baselines: dict[str, list[str]], label_maps: dict[str, tuple[list[str], list[str]]]
) -> None:
    local_history, kfp_history = mixed_histories
    for candidate, expected in baselines.items():
        assert _local_baseline(local_history, candidate, LatestBlessedOtherModelOfFramework(framework)) == expected
        for history in (local_history, kfp_history):
            model = lineage.resolve_baseline_model(history.store, PIPELINE, [history.uris[candidate]], framework)
            assert _names(history, [model] if model else []) == expected, (history.path, candidate)
    for examples, expected_maps in label_maps.items():
        assert _local_label_map(local_history, [examples], LatestBlessedLabelMapOfFramework(framework)) == expected_maps
        for history in (local_history, kfp_history):
            assert _container_label_map(history, [examples], framework) == expected_maps, (history.path, examples)
    assert _container_label_map(kfp_history, ["E3"]) == (["L2"], ["M2"])  # no framework: every model counts


@pytest.mark.parametrize("num_spans", [1, 2, 5])
def test_span_window_matches_the_local_strategy(local_history: History, kfp_history: History, num_spans: int) -> None:
    store = local_history.store
    local = SpanRangeStrategy(rolling_window(num_spans)).resolve_artifacts(store, {"examples": _channel(store, "Examples")})
    expected = ["E3", "E2", "E1"][:num_spans]
    assert _names(local_history, local["examples"]) == expected
    for history in (local_history, kfp_history):
        written = lineage.examples_written_by(history.store, PIPELINE)
        assert _names(history, lineage.resolve_span_window(history.store, written, num_spans)) == expected


def _output(artifact_class: type, uri: Path) -> types.Artifact:
    artifact = artifact_class()
    artifact.uri = str(uri)
    return artifact


def _input(history: History, artifact_class: type, name: str) -> types.Artifact:
    artifact = artifact_class()
    artifact.uri = history.uris[name]
    return artifact


def test_executors_copy_what_they_resolve_into_their_output_and_mark_what_they_did_not(kfp_history: History, tmp_path: Path) -> None:
    """A resolved artifact is copied into the step's own output (the launcher uploads it under this run's root), naming its source."""
    connection = sqlite_connection(str(kfp_history.path))
    properties = {"pipeline_name": PIPELINE, "metadata_connection": connection}

    label_map, model = _output(LabelMap, tmp_path / "label_map"), _output(standard_artifacts.Model, tmp_path / "model")
    LabelMapLineageExecutor().Do(
        {"examples": [_input(kfp_history, standard_artifacts.Examples, "E3")]}, {"label_map": [label_map], "model": [model]}, properties
    )
    assert label_map.uri == str(tmp_path / "label_map") and (tmp_path / "label_map" / "payload.txt").read_text() == "L2"
    assert model.uri == str(tmp_path / "model") and (tmp_path / "model" / "payload.txt").read_text() == "M2" and is_resolved(model)
    assert model.get_string_custom_property("resolved_from") == kfp_history.uris["M2"]
    assert model.get_int_custom_property("resolved_from_id") == kfp_history.ids["M2"]

    nothing_map, nothing_model = _output(LabelMap, tmp_path / "none_map"), _output(standard_artifacts.Model, tmp_path / "none_model")
    first_run = {**properties, "pipeline_name": "no-runs-yet"}
    LabelMapLineageExecutor().Do(
        {"examples": [_input(kfp_history, standard_artifacts.Examples, "E1")]}, {"label_map": [nothing_map], "model": [nothing_model]}, first_run
    )
    assert not is_resolved(nothing_map) and list((tmp_path / "none_map").iterdir()) == []

    baseline = _output(standard_artifacts.Model, tmp_path / "baseline")
    BaselineModelExecutor().Do({"candidate": [_input(kfp_history, standard_artifacts.Model, "M3")]}, {"model": [baseline]}, properties)
    assert (Path(baseline.uri) / "payload.txt").read_text() == "M2"

    kept = drop_unresolved({"examples": ["x"], "previous_label_map": [nothing_map], "base_model": [model], "baseline_model": [baseline]})
    assert set(kept) == {"examples", "base_model", "baseline_model"}


@pytest.fixture(scope="module")
def two_namespaces(tmp_path_factory: pytest.TempPathFactory) -> History:
    """KFP history of `retrain-test` in namespace team-a, then a same-named pipeline's newer blessed run (M9) in team-b."""
    return record_history(tmp_path_factory.mktemp("namespaces"), kfp=True, namespace="team-a", other_namespace="team-b")


def test_resolvers_never_choose_another_namespaces_artifacts(two_namespaces: History) -> None:
    history = two_namespaces
    assert _names(history, [lineage.resolve_baseline_model(history.store, PIPELINE, [history.uris["M3"]])]) == ["M9"]  # unscoped: team-b's
    scoped = lineage.resolve_baseline_model(history.store, PIPELINE, [history.uris["M3"]], namespace="team-a")
    assert _names(history, [scoped]) == ["M2"]
    label_map, model = lineage.resolve_label_map_and_base_model(history.store, PIPELINE, [history.uris["E3"]], namespace="team-a")
    assert _names(history, [label_map, model]) == ["L2", "M2"]
    spans = lineage.resolve_span_window(history.store, lineage.examples_written_by(history.store, PIPELINE, "team-a"), 2)
    assert _names(history, spans) == ["E3", "E2"]
    assert _names(history, lineage.models_of_pipeline(history.store, PIPELINE, namespace="team-b")) == ["M9"]


def test_resolver_steps_read_their_namespace_as_the_driver_does(two_namespaces: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    properties = {"pipeline_name": PIPELINE, "metadata_connection": sqlite_connection(str(two_namespaces.path))}
    for namespace, expected in (("team-a", "M2"), ("team-b", "M9")):
        monkeypatch.setenv(NAMESPACE_ENV, namespace)
        baseline = _output(standard_artifacts.Model, tmp_path / namespace)
        BaselineModelExecutor().Do({"candidate": [_input(two_namespaces, standard_artifacts.Model, "M3")]}, {"model": [baseline]}, properties)
        assert baseline.get_string_custom_property("resolved_from") == two_namespaces.uris[expected]


def test_span_window_step_merges_the_window_into_one_examples_artifact(local_history: History, tmp_path: Path) -> None:
    for name in ("E1", "E2", "E3"):
        split_dir = Path(local_history.uris[name]) / "Split-train"
        split_dir.mkdir(exist_ok=True)
        (split_dir / "data.gz").write_text(name)
    latest = _input(local_history, standard_artifacts.Examples, "E3")
    latest.split_names = artifact_utils.encode_split_names(["train"])
    window = _output(standard_artifacts.Examples, tmp_path / "window")
    properties = {"pipeline_name": PIPELINE, "metadata_connection": sqlite_connection(str(local_history.path)), "num_spans": 2}
    SpanWindowExecutor().Do({"latest": [latest]}, {"examples": [window]}, properties)
    assert window.get_string_custom_property("spans") == "2,3"
    merged = sorted(p.read_text() for p in (tmp_path / "window" / "Split-train").iterdir())
    assert merged == ["E2", "E3"]


def test_example_gen_resolves_the_newest_span_or_the_requested_one(tmp_path: Path) -> None:
    for span in (1, 2):
        for split in ("train", "eval"):
            (tmp_path / f"span-{span}" / split).mkdir(parents=True)
            (tmp_path / f"span-{span}" / split / "part.tfrecord").write_bytes(b"x" * span)
    input_config = {"splits": [{"name": "train", "pattern": "span-{SPAN}/train/*"}, {"name": "eval", "pattern": "span-{SPAN}/eval/*"}]}
    properties = {"input_base": str(tmp_path), "input_config": json.dumps(input_config)}
    newest = resolve_span(properties)
    assert newest["span"] == 2 and newest["input_fingerprint"]
    assert json.loads(newest["input_config"])["splits"][0]["pattern"] == "span-2/train/*"
    pinned = resolve_span(properties, requested_span=1)
    assert pinned["span"] == 1 and json.loads(pinned["input_config"])["splits"][1]["pattern"] == "span-1/eval/*"
    assert pinned["input_fingerprint"] != newest["input_fingerprint"]


@pytest.mark.parametrize(("data_version", "span", "records"), [(None, 2, 3), ("1::0123456789abcdef", 1, 2)])
def test_span_resolving_example_gen_runs_the_wrapped_executor_on_the_resolved_span(
    tmp_path: Path, data_version: str | None, span: int, records: int
) -> None:
    """The newest span, or the one the span probe's `data_version` names."""
    for on_disk, count in ((1, 2), (2, 3)):
        for split in ("train", "eval"):
            write_digit_records(tmp_path / "data" / f"span-{on_disk}" / split / "part.tfrecord", {5: count}, {5: "five"})
    input_config = tfx.proto.Input(splits=[tfx.proto.Input.Split(name=s, pattern=f"span-{{SPAN}}/{s}/*") for s in ("train", "eval")])
    step = SpanResolvingExampleGen(tfx.components.ImportExampleGen(input_base=str(tmp_path / "data"), input_config=input_config))
    executor_class = step.executor_spec.executor_class
    beam_args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=beam_args, tmp_dir=str(tmp_path / "tmp"), unique_id="1")
    examples = _output(standard_artifacts.Examples, tmp_path / "examples")
    executor_class(context).Do({}, {"examples": [examples]}, dict(step.exec_properties, requested_span=-1, data_version=data_version))
    assert examples.get_int_custom_property("span") == span
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    train_files = tf.io.gfile.glob(str(tmp_path / "examples" / "Split-train" / "*"))
    assert sum(1 for _ in tf.data.TFRecordDataset(train_files, compression_type="GZIP")) == records  # span 1 has 2, span 2 has 3


def test_a_requested_number_of_epochs_overrides_the_configured_one() -> None:
    settings = trainer_settings_for(config_from_dict({"training": {"epochs": 80, "mode": "fine_tune"}}))
    properties = {"custom_config": json.dumps(trainer_custom_config(settings, "v1")), "run_fn": "m.run_fn"}
    assert apply_requested_epochs({**properties, "epochs": 0}) == properties
    changed = apply_requested_epochs({**properties, "epochs": 3})
    assert json.loads(changed["custom_config"]) == trainer_custom_config(settings.updated(epochs=3), "v1") and "epochs" not in changed


def _record_kfp_push(history: History, model: str, pushed: float) -> None:
    """A pusher step as the KFP launcher records it: a `tfx.PushedModel` whose `pushed` is a double, the model as its input."""
    store = history.store
    push_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="tfx.PushedModel"))
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="system.ContainerExecution"))
    pushed_model = metadata_store_pb2.Artifact(type_id=push_type, uri=f"/pushed/{model}")
    pushed_model.custom_properties["pushed"].double_value = pushed
    [pushed_id] = store.put_artifacts([pushed_model])
    [execution_id] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type)])
    events = [(history.ids[model], metadata_store_pb2.Event.INPUT, "model"), (pushed_id, metadata_store_pb2.Event.OUTPUT, "pushed_model")]
    store.put_events([metadata_store_pb2.Event(artifact_id=a, execution_id=execution_id, type=t, path={"steps": [{"key": k}]}) for a, t, k in events])
    pipeline = store.get_context_by_type_and_name("system.Pipeline", PIPELINE)
    store.put_attributions_and_associations([metadata_store_pb2.Attribution(context_id=pipeline.id, artifact_id=pushed_id)], [])


def test_kfp_baseline_is_the_pushed_model_as_locally(tmp_path: Path) -> None:
    """M2 is blessed but the pusher refused it: the baseline is M1, which it pushed (pushed as the launcher's double)."""
    history = record_history(tmp_path, kfp=True)
    assert _names(history, [lineage.resolve_baseline_model(history.store, PIPELINE, [history.uris["M3"]])]) == ["M2"]  # nothing pushed
    _record_kfp_push(history, "M1", 1.0)
    _record_kfp_push(history, "M2", 0.0)
    assert pushed_model_ids(history.store) == {history.ids["M1"]}
    assert _names(history, [lineage.resolve_baseline_model(history.store, PIPELINE, [history.uris["M3"]])]) == ["M1"]


def test_pushes_outside_the_candidates_do_not_hide_the_latest_blessed_model(two_namespaces: History) -> None:
    """team-b pushed M9; team-a has pushed nothing, so its baseline is still its latest blessed model."""
    _record_kfp_push(two_namespaces, "M9", 1.0)
    scoped = lineage.resolve_baseline_model(two_namespaces.store, PIPELINE, [two_namespaces.uris["M3"]], namespace="team-a")
    assert _names(two_namespaces, [scoped]) == ["M2"]
