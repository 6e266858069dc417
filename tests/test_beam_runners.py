"""Every Beam step gives the same artifacts on the multi-process DirectRunner as in memory.

The pipeline's own nodes (pipelines/pipeline.py: ImageFolderExampleGen, StatisticsGen, SchemaGen,
LabelPrep, LabelMappedTransform, the progress Evaluator) plus CsvExampleGen and ImportExampleGen run
their real executors, through TFX's launcher, once with `--direct_running_mode=in_memory` and once with
`--direct_running_mode=multi_processing --direct_num_workers=2`. Sharding, record order and the order of
features in statistics and schemas differ between the two; contents may not, so records are compared as
multisets of parsed examples, statistics per feature, schemas as sets of features. The multi-process
Evaluator evaluates the in-memory run's model (imported), so its metrics must equal the in-memory ones.
Floating-point statistics and metrics are sums merged in the workers' order, so they are compared to
a relative 1e-9 (every other field exactly).
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format, text_format
from google.protobuf.message import Message
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.dsl.components.base.base_node import BaseNode

from retrain.components.branches import ORIGINAL
from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.evaluator_progress.component import Evaluator
from retrain.pipelines.config import RetrainConfig, config_from_dict
from retrain.pipelines.paths import resolve_run_paths
from retrain.pipelines.pipeline import create_pipeline, eval_config_for, example_gen_for, nodes_without, pipeline_of

pytestmark = pytest.mark.e2e
IN_MEMORY = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
MULTI_PROCESSING = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
CLASSES = {5: "five", 6: "six", 7: "seven"}
TRAINING_NODES = {"Trainer", ORIGINAL.baseline_resolver_id, "Evaluator", "VersionedPusher"}
CanonicalExample = tuple[tuple[str, tuple[Any, ...]], ...]


def _image_folders(root: Path, per_class: int) -> None:
    images = digits.load_digits_images()
    for digit, name in CLASSES.items():
        (root / name).mkdir(parents=True)
        for index, image in enumerate(digits.select_digits(images, (digit,)).images[:per_class]):
            (root / name / f"{index}.png").write_bytes(digits.encode_png(image))


def _csv(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True)
    lines = ["text,label"] + [f"message number {i} about {'billing' if i % 3 else 'login'},{'b' if i % 3 else 'l'}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def _config(tmp_path: Path, backbone_dir: Path, beam_args: tuple[str, ...], name: str) -> RetrainConfig:
    return config_from_dict(
        {
            "pipeline_name": name,
            "data": {"path": str(tmp_path / "images"), "format": "image_folders", "eval_fraction": 0.3},
            "backbone": {"handle": str(backbone_dir)},
            "training": {"epochs": 2},
            "evaluation": {"min_accuracy": 0.0},
            "runner": {"beam_args": list(beam_args)},
        }
    )


def _other_example_gens(tmp_path: Path, digits_example: ExampleLayout) -> list[BaseNode]:
    """ImportExampleGen (the digits TFRecords, predefined splits) and CsvExampleGen (hash split), as example_gen_for builds them."""
    records = config_from_dict(
        {
            "data": {"path": str(digits_example.root / "data"), "format": "tfrecord", "train_pattern": "train/*", "eval_pattern": "eval/*"},
            "backbone": {"handle": "unused"},
        }
    )
    csv = config_from_dict(
        {"task": {"type": "text_classification"}, "data": {"path": str(tmp_path / "csv"), "format": "csv"}, "backbone": {"handle": "unused"}}
    )
    return [example_gen_for(records), example_gen_for(csv)]


def _run(nodes: list[BaseNode], config: RetrainConfig, output: Path) -> Path:
    paths = resolve_run_paths(config, output)
    tfx.orchestration.LocalDagRunner().run(pipeline_of(config, paths, nodes))
    return paths.pipeline_root


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory, digits_example: ExampleLayout) -> tuple[Path, Path]:
    """(in-memory pipeline root, multi-process pipeline root)."""
    tmp_path = tmp_path_factory.mktemp("beam_runners")
    _image_folders(tmp_path / "images", per_class=20)
    _csv(tmp_path / "csv" / "messages.csv", rows=60)
    memory_config = _config(tmp_path, digits_example.backbone_dir, IN_MEMORY, "memory")
    memory = create_pipeline(memory_config, resolve_run_paths(memory_config, tmp_path / "memory"))
    memory_root = _run([*memory.components, *_other_example_gens(tmp_path, digits_example)], memory_config, tmp_path / "memory")

    workers_config = _config(tmp_path, digits_example.backbone_dir, MULTI_PROCESSING, "workers")
    workers = create_pipeline(workers_config, resolve_run_paths(workers_config, tmp_path / "workers"))
    beam_nodes = nodes_without(workers.components, TRAINING_NODES)
    model = tfx.dsl.Importer(source_uri=_only_uri(memory_root, "Trainer", "model"), artifact_type=tfx.types.standard_artifacts.Model)
    evaluator = Evaluator(examples=beam_nodes[0].outputs["examples"], model=model.outputs["result"], eval_config=eval_config_for(workers_config))
    nodes = [*beam_nodes, model.with_id("memory_model"), evaluator, *_other_example_gens(tmp_path, digits_example)]
    return memory_root, _run(nodes, workers_config, tmp_path / "workers")


def _only_uri(root: Path, node: str, key: str) -> str:
    (uri,) = sorted((root / node / key).iterdir())
    return str(uri)


def _canonical(example: tf.train.Example) -> CanonicalExample:
    items = []
    for name in sorted(example.features.feature):
        feature = example.features.feature[name]
        kind = feature.WhichOneof("kind")
        items.append((name, tuple(getattr(feature, kind).value) if kind else ()))
    return tuple(items)


def _records(uri: str) -> dict[str, collections.Counter[CanonicalExample]]:
    splits = {}
    for split_dir in sorted(Path(uri).glob("Split-*")):
        files = sorted(str(path) for path in split_dir.iterdir())
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
        splits[split_dir.name] = collections.Counter(_canonical(tf.train.Example.FromString(r.numpy())) for r in dataset)
    return splits


def _data(value: Any) -> Any:
    """Protos as plain data (floats stay floats), for `_assert_close`."""
    if isinstance(value, Message):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, dict):
        return {key: _data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_data(item) for item in value]
    return value


def _assert_close(memory: Any, workers: Any, where: str = "") -> None:
    """Equal structures; floats equal to a relative 1e-9 (merge order may change a sum's last bits)."""
    if isinstance(memory, float) or isinstance(workers, float):
        assert workers == pytest.approx(memory, rel=1e-9, abs=1e-12), where
    elif isinstance(memory, dict):
        assert isinstance(workers, dict) and sorted(memory) == sorted(workers), where
        for key in memory:
            _assert_close(memory[key], workers[key], f"{where}/{key}")
    elif isinstance(memory, list):
        assert isinstance(workers, list) and len(memory) == len(workers), where
        for index, (left, right) in enumerate(zip(memory, workers)):
            _assert_close(left, right, f"{where}[{index}]")
    else:
        assert memory == workers, where


def _statistics(uri: str) -> dict[str, tuple[int, dict[str, statistics_pb2.FeatureNameStatistics]]]:
    splits = {}
    for path in sorted(Path(uri).glob("Split-*/FeatureStats.pb")):
        stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
        (dataset,) = stats.datasets
        splits[path.parent.name] = (dataset.num_examples, {"/".join(f.path.step): f for f in dataset.features})
    return splits


def _schema(path: Path) -> tuple[schema_pb2.Schema, dict[str, schema_pb2.Feature], dict[str, schema_pb2.StringDomain]]:
    """The schema without its features and string domains, its features by name and its string domains by name
    (SchemaGen lists both in the order the statistics list features, which the workers' merge order decides)."""
    schema = text_format.Parse(path.read_text(), schema_pb2.Schema())
    features = {feature.name: feature for feature in schema.feature}
    domains = {domain.name: domain for domain in schema.string_domain}
    del schema.feature[:]
    del schema.string_domain[:]
    return schema, features, domains


@pytest.mark.parametrize(
    ("node", "key"),
    [
        ("ImageFolderExampleGen", "examples"),
        ("ImportExampleGen", "examples"),
        ("CsvExampleGen", "examples"),
        ("LabelMappedTransform", "transformed_examples"),
    ],
)
def test_records_are_the_same_multisets(roots: tuple[Path, Path], node: str, key: str) -> None:
    memory, workers = (_records(_only_uri(root, node, key)) for root in roots)
    assert sum(sum(split.values()) for split in memory.values()) > 0
    assert memory == workers


def test_statistics_are_the_same_per_feature(roots: tuple[Path, Path]) -> None:
    memory, workers = (_statistics(_only_uri(root, "StatisticsGen", "statistics")) for root in roots)
    assert set(memory) == {"Split-train", "Split-eval"}
    _assert_close(_data(memory), _data(workers))


def test_schemas_have_the_same_features(roots: tuple[Path, Path]) -> None:
    memory, workers = (_schema(Path(_only_uri(root, "SchemaGen", "schema")) / "schema.pbtxt") for root in roots)
    assert set(memory[1]) == {"image", "label", "path"}
    assert memory == workers
    memory, workers = (
        _schema(Path(_only_uri(root, "LabelMappedTransform", "transform_graph"), "transformed_metadata", "schema.pbtxt")) for root in roots
    )
    assert memory[1] and memory == workers


def test_label_maps_are_byte_identical(roots: tuple[Path, Path]) -> None:
    memory, workers = (Path(_only_uri(root, "LabelPrep", "label_map")) for root in roots)
    files = sorted(path.relative_to(memory) for path in memory.rglob("*") if path.is_file())
    assert files
    assert files == sorted(path.relative_to(workers) for path in workers.rglob("*") if path.is_file())
    assert all((memory / name).read_bytes() == (workers / name).read_bytes() for name in files)


def _metrics(uri: str) -> dict[tuple[str, bytes], Any]:
    return {
        (str(metrics.slice_key), each.key.SerializeToString(deterministic=True)): each.value
        for metrics in tfma.load_metrics(uri)
        for each in metrics.metric_keys_and_values
    }


def test_evaluator_metrics_are_equal_for_the_same_model(roots: tuple[Path, Path]) -> None:
    memory, workers = (_metrics(_only_uri(root, "Evaluator", "evaluation")) for root in roots)
    assert len(memory) >= 2  # example count and accuracy
    assert sorted(memory) == sorted(workers)
    _assert_close(_data(memory), _data(workers))
