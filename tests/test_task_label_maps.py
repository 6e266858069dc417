"""One stable label map per task: ids never move per task, problems and one-class tasks name the task, the artifact layout."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples

from retrain.components.label_prep import counting, executor
from retrain.components.label_prep.artifact import LabelMap as LabelMapArtifact
from retrain.components.label_prep.label_map import LabelMap, SplitCounts, load_label_map
from retrain.components.label_prep.settings import LabelSettings
from retrain.components.label_prep.task_maps import (
    TaskWithOneClassError,
    build_task_label_maps,
    load_task_label_maps,
    previous_task_label_maps,
    save_task_label_maps,
)

TASKS = ["category", "brand"]


def _record(**features: str) -> bytes:
    values = {name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()])) for name, value in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=values)).SerializeToString()


def _counts(rows: list[dict[str, str]], split: str = "train") -> dict[str, dict[str, SplitCounts]]:
    keys = [(split, *key) for row in rows for key in counting.task_label_keys(_record(**row), TASKS, "text")]
    return counting.task_split_counts([(key, keys.count(key)) for key in sorted(set(keys))], TASKS)


FIRST = [
    {"text": "a", "category": "shoe", "brand": "acme"},
    {"text": "b", "category": "hat", "brand": "zenith"},
    {"text": "c", "category": "shoe", "brand": "acme"},
]


def test_each_task_is_counted_from_its_own_column() -> None:
    counts = _counts([*FIRST, {"text": "d", "category": "hat", "brand": " "}])
    assert list(counts) == TASKS
    assert counts["category"]["train"] == SplitCounts({"hat": 2, "shoe": 2})
    assert counts["brand"]["train"] == SplitCounts({"acme": 2, "zenith": 1}, empty_label=1)


def test_each_tasks_ids_stay_put_across_a_run_that_brings_a_new_class(tmp_path: Path) -> None:
    first = build_task_label_maps(_counts(FIRST), {}, LabelSettings())
    save_task_label_maps(first, str(tmp_path / "first"))
    second_rows = [{"text": "e", "category": "bag", "brand": "acme"}, {"text": "f", "category": "shoe", "brand": "blue"}]
    previous = previous_task_label_maps(str(tmp_path / "first"), TASKS)
    second = build_task_label_maps(_counts(second_rows), previous, LabelSettings())
    assert first["category"].labels == ["hat", "shoe"] and first["brand"].labels == ["acme", "zenith"]
    assert second["category"].labels == ["hat", "shoe", "bag"] and second["category"].new_labels == ["bag"]
    assert second["brand"].labels == ["acme", "zenith", "blue"] and second["brand"].new_labels == ["blue"]
    save_task_label_maps(second, str(tmp_path / "second"))
    assert load_task_label_maps(str(tmp_path / "second"), TASKS) == second


def test_the_main_tasks_map_is_the_single_task_file(tmp_path: Path) -> None:
    maps = build_task_label_maps(_counts(FIRST), {}, LabelSettings())
    save_task_label_maps(maps, str(tmp_path))
    assert load_label_map(str(tmp_path)) == maps["category"]
    single = {"category": maps["category"]}
    save_task_label_maps(single, str(tmp_path / "single"))
    assert sorted(path.name for path in (tmp_path / "single").iterdir()) == ["label_map.json"]
    assert load_task_label_maps(str(tmp_path / "single"), ["category"]) == single


def test_a_new_task_or_a_single_task_predecessor_starts_fresh_maps(tmp_path: Path) -> None:
    save_task_label_maps({"category": LabelMap(labels=["x", "y"])}, str(tmp_path))
    assert previous_task_label_maps(str(tmp_path), TASKS) == {}
    assert previous_task_label_maps(str(tmp_path), ["category"]) == {"category": LabelMap(labels=["x", "y"])}
    assert previous_task_label_maps(None, TASKS) == {}
    with pytest.raises(FileNotFoundError, match=r"holds no map of task 'category'"):
        load_task_label_maps(str(tmp_path), TASKS)


def test_a_task_with_one_class_fails_in_one_line_naming_it() -> None:
    rows = [{"text": "a", "category": "shoe", "brand": "acme"}, {"text": "b", "category": "hat", "brand": "acme"}]
    with pytest.raises(TaskWithOneClassError, match=r"^LabelPrep: task 'brand' has 1 class\(es\) \('acme'\): a classifier needs at least 2$"):
        build_task_label_maps(_counts(rows), {}, LabelSettings())


def test_problems_name_their_task() -> None:
    counts = _counts(FIRST)
    counts["brand"]["eval"] = SplitCounts({"other": 1})
    maps = build_task_label_maps(counts, {}, LabelSettings())
    assert maps["category"].problems == []
    assert maps["brand"].problems == ["task 'brand': 1 label(s) in split 'eval' never seen in train: 'other' (1)"]


def _examples_artifact(root: Path, splits: dict[str, list[dict[str, str]]]) -> Examples:
    examples = Examples()
    examples.uri = str(root)
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    for split, rows in splits.items():
        (root / f"Split-{split}").mkdir(parents=True)
        with tf.io.TFRecordWriter(str(root / f"Split-{split}" / "data.tfrecord")) as writer:
            for row in rows:
                writer.write(_record(**row))
    return examples


def _label_prep(root: Path, splits: dict[str, list[dict[str, str]]], previous: LabelMapArtifact | None = None) -> LabelMapArtifact:
    output = LabelMapArtifact()
    output.uri = str(root / "label_map")
    (root / "label_map").mkdir(parents=True)  # TFX creates an output artifact's directory before the executor runs
    properties = {
        "label_feature": TASKS[0],
        "input_feature": "text",
        "settings": json.dumps(asdict(LabelSettings())),
        "task_labels": json.dumps(TASKS),
    }
    inputs = {"examples": [_examples_artifact(root / "examples", splits)], "previous_label_map": [previous] if previous else []}
    executor.Executor().Do(inputs, {"label_map": [output]}, properties)
    return output


def test_the_label_prep_executor_keeps_each_tasks_ids_across_runs(tmp_path: Path) -> None:
    first = _label_prep(tmp_path / "first", {"train": FIRST, "eval": FIRST[:2]})
    rows = [{"text": "e", "category": "bag", "brand": "zenith"}, {"text": "f", "category": "hat", "brand": "blue"}]
    second = _label_prep(tmp_path / "second", {"train": [*rows, *FIRST], "eval": FIRST[:2]}, previous=first)
    maps = load_task_label_maps(second.uri, TASKS)
    assert maps["category"].labels == ["hat", "shoe", "bag"] and maps["brand"].labels == ["acme", "zenith", "blue"]
    assert load_label_map(second.uri) == maps["category"]
    with pytest.raises(TaskWithOneClassError, match=r"task 'brand' has 1 class"):
        _label_prep(tmp_path / "one", {"train": [{**row, "brand": "acme"} for row in FIRST]})
