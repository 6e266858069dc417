"""TFRecord framing on worker threads, and TFX's output splits.

Each worker thread frames (length, CRCs) its own records; the sink (gzip_sink) only
wraps the framed bytes of each shard in one gzip stream, so no serial step deflates
every image again after the parallel read.

Output splits follow TFX's ExampleGen exactly (its `_PartitionFn`, via retrain.components.compat: sha256 of the
serialized example, or of the partition feature, modulo the hash buckets), so a
split assignment never depends on which ExampleGen wrote the data.
"""

from __future__ import annotations

import functools
import itertools
import struct
from dataclasses import dataclass
from typing import Optional

import google_crc32c
import tensorflow as tf
from tfx.proto import example_gen_pb2

from retrain.components.compat.tfx_private import example_gen_partition

_CRC_MASK_DELTA = 0xA282EAD8


def _masked_crc32c(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    masked = (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF
    return struct.pack("<I", masked)


def tfrecord_frame(record: bytes) -> bytes:
    """`record` in TFRecord framing: length, masked CRC32C of the length, data, masked CRC32C of the data."""
    length = struct.pack("<Q", len(record))
    return b"".join((length, _masked_crc32c(length), record, _masked_crc32c(record)))


@dataclass(frozen=True)
class OutputSplits:
    """How examples map to output splits: by hash buckets (`split_config`), or all to one split (None)."""

    names: tuple[str, ...]
    split_config: Optional[example_gen_pb2.SplitConfig] = None

    def index_of(self, example: tf.train.Example, serialized: bytes) -> int:
        """The output split of one example (`serialized` is its deterministic serialization)."""
        if self.split_config is None:
            return 0
        by_feature = self.split_config.HasField("partition_feature_name")
        return example_gen_partition(example if by_feature else serialized, self._bucket_bounds, self.split_config)

    @functools.cached_property
    def _bucket_bounds(self) -> list[int]:
        """Cumulative hash buckets per split, as TFX's ExampleGen computes them."""
        assert self.split_config is not None
        return list(itertools.accumulate(split.hash_buckets for split in self.split_config.splits))


def encode_example(example: tf.train.Example, splits: OutputSplits) -> tuple[int, bytes]:
    """One example -> (its output split, its record framed for a TFRecord file)."""
    serialized = example.SerializeToString(deterministic=True)
    return splits.index_of(example, serialized), tfrecord_frame(serialized)
