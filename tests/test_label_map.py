"""Label map logic: stable ids, class weights, problems, counting, and lineage to the previous map."""

from __future__ import annotations

from pathlib import Path

import ml_metadata as mlmd
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from retrain.components.label_prep import counting
from retrain.components.label_prep.artifact import LabelMap as LabelMapArtifact
from retrain.components.label_prep.label_map import (
    LabelMap,
    SplitCounts,
    assign_ids,
    balanced_class_weights,
    build_label_map,
    find_problems,
    load_label_map,
    save_label_map,
)
from retrain.components.resolvers.label_map import label_map_of_model, seed_label_map
from retrain.components.label_prep.settings import LabelSettings


def test_previous_ids_never_move_and_new_labels_are_appended_sorted() -> None:
    labels, new = assign_ids(["zebra", "ant"], ["ant", "cat", "zebra", "bee"])
    assert labels == ["zebra", "ant", "bee", "cat"]
    assert new == ["bee", "cat"]


def test_labels_missing_from_new_data_keep_their_ids() -> None:
    labels, new = assign_ids(["a", "b", "c"], ["c"])
    assert labels == ["a", "b", "c"] and new == []


def test_balanced_class_weights() -> None:
    weights = balanced_class_weights(["a", "b", "c"], {"a": 30, "b": 10})
    assert weights == pytest.approx([40 / 60, 40 / 20, 1.0])


def test_build_label_map_counts_weights_and_new_labels() -> None:
    splits = {"train": SplitCounts({"b": 3, "a": 1}), "eval": SplitCounts({"a": 2, "b": 2})}
    first = build_label_map(splits, None, LabelSettings(label_smoothing=0.1))
    assert first.labels == ["a", "b"] and first.new_labels == []
    assert first.counts["train"] == {"a": 1, "b": 3}
    assert first.class_weights == pytest.approx([2.0, 4 / 6])
    assert first.label_smoothing == 0.1
    second = build_label_map({"train": SplitCounts({"c": 5, "b": 1})}, first, LabelSettings(class_weighting="none"))
    assert second.labels == ["a", "b", "c"] and second.new_labels == ["c"]
    assert second.class_weights == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("splits", "settings", "expected"),
    [
        ({"train": SplitCounts({"a": 1, "b": 9})}, LabelSettings(min_examples_per_class=5), "1 class(es) with fewer than 5 train examples: 'a' (1)"),
        (
            {"train": SplitCounts({"a": 5}), "eval": SplitCounts({"a": 1, "x": 2})},
            LabelSettings(),
            "1 label(s) in split 'eval' never seen in train: 'x' (2)",
        ),
        ({"train": SplitCounts({"a": 5}, empty_label=3)}, LabelSettings(), "3 record(s) in split 'train' have an empty or whitespace label"),
        ({"train": SplitCounts({"a": 5}, missing_input=2)}, LabelSettings(), "2 record(s) in split 'train' have no input feature value"),
        ({"train": SplitCounts({"a": 1, "b": 1, "c": 1})}, LabelSettings(max_classes=2), "3 classes, more than labels.max_classes=2"),
        ({"train": SplitCounts({})}, LabelSettings(), "no labelled examples at all"),
    ],
)
def test_each_problem_is_reported_with_counts(splits: dict, settings: LabelSettings, expected: str) -> None:
    labels = sorted({label for counts in splits.values() for label in counts.per_label})
    assert expected in find_problems(labels, splits, settings)


def test_clean_labels_have_no_problems() -> None:
    assert find_problems(["a", "b"], {"train": SplitCounts({"a": 2, "b": 2}), "eval": SplitCounts({"a": 1})}, LabelSettings()) == []


def test_label_map_round_trips_through_json(tmp_path: Path) -> None:
    label_map = LabelMap(labels=["x", "y"], counts={"train": {"x": 1}}, class_weights=[1.0, 2.0], problems=["p"])
    save_label_map(label_map, str(tmp_path))
    assert load_label_map(str(tmp_path)) == label_map


def _example(**features: bytes) -> bytes:
    feature = {name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])) for name, value in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_count_labels_counts_every_split_of_gzipped_tfrecords(tmp_path: Path) -> None:
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    records = {"train": [_example(image=b"png", label=b"cat")] * 3 + [_example(label=b"dog")], "eval": [_example(image=b"png", label=b" ")]}
    patterns = {}
    for split, examples in records.items():
        path = tmp_path / f"{split}.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for example in examples:
                writer.write(example)
        patterns[split] = [str(path)]
    with beam.Pipeline() as pipeline:
        counts = pipeline | counting.CountLabels(patterns, "label", "image")
        assert_that(counts, equal_to([(("train", "cat", True), 3), (("train", "dog", False), 1), (("eval", "", True), 1)]))


def test_label_key_reads_label_and_input_presence() -> None:
    assert counting.label_key(_example(image=b"png", label=b" cat "), "label", "image") == ("cat", True)
    assert counting.label_key(_example(image=b"png", label=b"  "), "label", "image") == ("", True)
    assert counting.label_key(_example(label=b"cat"), "label", "image") == ("cat", False)
    assert counting.label_key(_example(image=b"   ", label=b"cat"), "label", "image") == ("cat", False)
    integer = tf.train.Example()
    integer.features.feature["label"].int64_list.value.append(7)
    integer.features.feature["image"].bytes_list.value.append(b"x")
    assert counting.label_key(integer.SerializeToString(), "label", "image") == ("7", True)


def test_split_counts_separates_unusable_records() -> None:
    counts = counting.split_counts([(("train", "a", True), 4), (("train", "", True), 2), (("train", "b", False), 1), (("eval", "a", True), 3)])
    assert counts["train"] == SplitCounts({"a": 4}, empty_label=2, missing_input=1)
    assert counts["eval"] == SplitCounts({"a": 3})


def _store() -> mlmd.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    return mlmd.MetadataStore(config)


def _event(artifact_id: int, execution_id: int, kind: int, key: str) -> metadata_store_pb2.Event:
    event = metadata_store_pb2.Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


def _link(store: mlmd.MetadataStore, inputs: list[int] | dict[str, int], outputs: list[int]) -> None:
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="step"))
    [execution_id] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type)])
    keyed = inputs if isinstance(inputs, dict) else {f"in{i}": a for i, a in enumerate(inputs)}
    events = [_event(a, execution_id, metadata_store_pb2.Event.INPUT, key) for key, a in keyed.items()]
    events += [_event(a, execution_id, metadata_store_pb2.Event.OUTPUT, "out") for a in outputs]
    store.put_events(events)


def _label_map_artifact(artifact_id: int) -> LabelMapArtifact:
    label_map = LabelMapArtifact()
    label_map.id = artifact_id
    return label_map


def test_lineage_finds_the_label_map_a_model_was_trained_with() -> None:
    store = _store()
    artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="thing"))
    label_map_old, label_map_new, graph, model, examples = store.put_artifacts(
        [metadata_store_pb2.Artifact(type_id=artifact_type, uri=f"/{i}") for i in range(5)]
    )
    _link(store, inputs=[examples, label_map_new], outputs=[graph])  # Transform
    _link(store, inputs=[graph, examples], outputs=[model])  # Trainer

    found = label_map_of_model(store, model, [_label_map_artifact(label_map_old), _label_map_artifact(label_map_new)])
    assert found is not None and found.id == label_map_new
    assert label_map_of_model(store, model, [_label_map_artifact(label_map_old)]) is None


def test_seed_is_the_blessed_map_for_new_data_and_its_own_seed_for_unchanged_data() -> None:
    store = _store()
    artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="thing"))
    examples_1, examples_2, map_1, map_2 = store.put_artifacts([metadata_store_pb2.Artifact(type_id=artifact_type, uri=f"/{i}") for i in range(4)])
    _link(store, {"examples": examples_1}, [map_1])  # run 1: no previous map
    _link(store, {"examples": examples_2, "previous_label_map": map_1}, [map_2])  # run 2: new data
    maps = [_label_map_artifact(map_1), _label_map_artifact(map_2)]
    assert seed_label_map(store, maps[0], {examples_2}, maps).id == map_1  # new data: seed with the blessed map
    assert seed_label_map(store, maps[0], {examples_1}, maps) is None  # re-run of run 1: same inputs as then
    assert seed_label_map(store, maps[1], {examples_2}, maps).id == map_1  # re-run of run 2: same inputs as then
