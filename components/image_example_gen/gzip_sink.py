"""A Beam sink for GZIP TFRecord files whose records arrive already framed and compressed.

The elements are byte strings of complete gzip members (see gzip_records); the sink
writes them one after another, uncompressed, so each shard is a valid GZIP TFRecord
file. Temporary files, sharding and the final rename are Beam's FileBasedSink's:
a failed or retried bundle leaves no partial output behind.
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam import coders
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from tfx.components.example_gen.write_split import DEFAULT_FILE_NAME

GZIP_SUFFIX = ".gz"


class _GzipMembersSink(filebasedsink.FileBasedSink):
    """Writes each element's bytes as they are (they are already gzip members)."""

    def __init__(self, file_path_prefix: str) -> None:
        super().__init__(
            file_path_prefix,
            coder=coders.BytesCoder(),
            file_name_suffix=GZIP_SUFFIX,
            compression_type=CompressionTypes.UNCOMPRESSED,
        )

    def write_encoded_record(self, file_handle, encoded_value: bytes) -> None:  # type: ignore[no-untyped-def]
        file_handle.write(encoded_value)


def write_gzip_members(split_uri: str) -> beam.PTransform:
    """Writes a PCollection of gzip-member byte strings to `<split_uri>/data_tfrecord-*.gz` (TFX's file names)."""
    return beam.io.Write(_GzipMembersSink(os.path.join(split_uri, DEFAULT_FILE_NAME)))
