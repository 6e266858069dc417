"""Helpers for tests of ImageFolderExampleGen: run it in a tiny local pipeline and read back what it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import ml_metadata as mlmd
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from retrain.components.image_example_gen import executor as image_executor
from retrain.components.image_example_gen.component import ImageFolderExampleGen
from retrain.components.image_example_gen.records import Rejection
from retrain.components.image_example_gen.report import SplitCounts


def run(root: Path, example_gen: ImageFolderExampleGen, *downstream: tfx.types.BaseComponent) -> None:
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="images",
        pipeline_root=str(root / "pipeline"),
        components=[example_gen, *downstream],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "mlmd.sqlite")),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def artifacts(root: Path, type_name: str) -> list[metadata_store_pb2.Artifact]:
    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "mlmd.sqlite")))
    return store.get_artifacts_by_type(type_name)


def examples_artifacts(root: Path) -> list[metadata_store_pb2.Artifact]:
    return artifacts(root, "Examples")


def read_split(uri: str, split: str) -> Iterator[tf.train.Example]:
    files = sorted(str(path) for path in Path(uri, f"Split-{split}").iterdir())
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        yield tf.train.Example.FromString(record.numpy())


def split_contents(uri: str, split: str) -> dict[str, tuple[str, bytes]]:
    """path -> (label, image bytes) of a written split."""
    contents = {}
    for example in read_split(uri, split):
        feature = example.features.feature
        path = feature["path"].bytes_list.value[0].decode()
        contents[path] = (feature["label"].bytes_list.value[0].decode(), feature["image"].bytes_list.value[0])
    return contents


def rejections(uri: str, split: str) -> list[Rejection]:
    split_dir = Path(image_executor.report_dir(uri, split))
    lines = [line for path in sorted(split_dir.glob("rejected-*.jsonl")) for line in path.read_text().splitlines()]
    return sorted((Rejection.from_json(line) for line in lines), key=lambda rejection: rejection.path)


def split_counts(uri: str, split: str) -> SplitCounts:
    return SplitCounts.from_json(Path(image_executor.report_dir(uri, split), image_executor.COUNTS_FILE).read_text())


def property_of(artifact: metadata_store_pb2.Artifact, name: str) -> Optional[int]:
    return artifact.custom_properties[name].int_value if name in artifact.custom_properties else None
