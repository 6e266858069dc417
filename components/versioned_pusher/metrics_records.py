"""TFMA's `MetricsForSlice` records of a local evaluation, read without importing TensorFlow or TFMA.

`retrain history` shows every run's accuracy; `tfma.load_metrics` would load TensorFlow and Beam
(seconds) to read a few kilobytes. This reads the same files the same way for a local directory:
tensorflow_model_analysis 0.47.1 `writers/metrics_plots_and_validations_writer.py`
`load_and_deserialize_metrics` (files `metrics*.tfrecord`, else `metrics*`), records framed as
TensorFlow 2.16 `tensorflow/tsl/lib/io/record_reader.cc` reads them (length, masked CRC-32C of the
length, data, masked CRC-32C of the data; a bad checksum or a cut record is an error there too),
parsed with TFMA's own generated `metrics_for_slice_pb2` (loaded through components/compat).
"""

from __future__ import annotations

import glob
import os
import struct
from typing import Any, Iterator

import google_crc32c

from retrain.components.compat.tfma_files import metrics_for_slice_pb2

METRICS_PREFIX = "metrics"  # tensorflow_model_analysis/constants.py METRICS_KEY
_MASK_DELTA = 0xA282EAD8


class CorruptRecord(ValueError):
    """A metrics file whose framing or checksum does not hold; the message is one line."""


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _records(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while header := handle.read(12):
            if len(header) < 12:
                raise CorruptRecord(f"{path}: truncated record header")
            length, length_crc = struct.unpack("<QI", header)
            if _masked_crc(header[:8]) != length_crc:
                raise CorruptRecord(f"{path}: corrupted record length")
            body = handle.read(length + 4)
            if len(body) < length + 4:
                raise CorruptRecord(f"{path}: truncated record")
            if _masked_crc(body[:length]) != struct.unpack("<I", body[length:])[0]:
                raise CorruptRecord(f"{path}: corrupted record data")
            yield body[:length]


def load_local_metrics(evaluation_dir: str) -> Iterator[Any]:
    """The `MetricsForSlice` protos of a local TFMA output directory, as `tfma.load_metrics(evaluation_dir)` yields them."""
    prefix = os.path.join(evaluation_dir, METRICS_PREFIX)
    paths = sorted(glob.glob(glob.escape(prefix) + "*.tfrecord") or glob.glob(glob.escape(prefix) + "*"))
    message = metrics_for_slice_pb2().MetricsForSlice
    for path in paths:
        for record in _records(path):
            yield message.FromString(record)
