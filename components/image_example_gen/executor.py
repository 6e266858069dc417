"""Executor of ImageFolderExampleGen: lists each split's files, then reads, validates and writes the images in Beam.

Per input split: matched files -> image items (folder layout: the file itself;
manifest layout: the manifest's rows) -> Reshuffle -> batches that a thread pool
confines (confinement.py: only real paths inside input_base or an allowed root are
read), reads, fully decodes (PIL; normalise.py re-encodes what TensorFlow would
decode wrongly), turns into tf.Examples, assigns to output splits (TFX's
hash partition) and frames each record (framing) -> one GZIP TFRecord sink per
output split, each shard one gzip stream (gzip_sink).
Every per-image step runs on the pool (file reads, PIL's decoders and hashing
release the GIL), so one Beam worker keeps every core busy; TFX's stock WriteSplit
would deflate all image bytes again in one serial step.

The rejected records (`rejected-*.jsonl`, one JSON object `{"path", "reason"}` a line)
and `counts.json` go to `<examples uri>/rejected/Split-<input split>/`; after the
Beam job the totals become the artifact's `accepted_count` / `rejected_count`
custom properties and are checked against `max_rejected_fraction`.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Iterator, Optional, Union

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio, filesystem
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from retrain.components.image_example_gen.confinement import INODE_CHECKS, OUTSIDE_REASON, Confinement, is_remote
from retrain.components.image_example_gen.framing import OutputSplits, encode_example
from retrain.components.image_example_gen.gzip_sink import write_framed_records
from retrain.components.image_example_gen.records import (
    ImageItem,
    ManifestError,
    Rejection,
    check_manifest_header,
    classify,
    folder_item,
    one_line,
    parse_manifest,
    relative_path,
)
from retrain.components.image_example_gen.properties import ACCEPTED_COUNT_PROPERTY, REJECTED_COUNT_PROPERTY, REJECTED_DIR
from retrain.components.image_example_gen.report import COMPONENT_NAME, COUNTS_FILE, SplitCounts, check_rejections
from retrain.components.image_example_gen.settings import IngestSettings

_REJECTED = "rejected"
_ACCEPTED = "accepted"
_READ_BATCH_SIZE = 64  # images handed to the thread pool at a time
_Encoded = tuple[int, bytes]  # (output split index, the framed record)


def report_dir(examples_uri: str, split_name: str) -> str:
    """Where an input split's rejected records (`rejected-*.jsonl`) and `counts.json` are written."""
    return os.path.join(examples_uri, REJECTED_DIR, f"Split-{split_name}")


def _split_tag(index: int) -> str:
    return f"split_{index}"


def _read(uri: str) -> bytes:
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def _read_confined(uri: str, confinement: Confinement) -> Optional[bytes]:
    """The bytes of `uri` when it resolves inside the confinement's roots, else None (see confinement.py)."""
    if INODE_CHECKS and not is_remote(uri):
        return confinement.read_local(uri)
    target = confinement.resolve(uri)
    return None if target is None else _read(target)


def _rejected(rejection: Rejection) -> beam.pvalue.TaggedOutput:
    return beam.pvalue.TaggedOutput(_REJECTED, rejection.to_json())


class _ToItems(beam.DoFn):
    """A matched file -> the image items it stands for: itself (folders) or its rows (manifest).

    A manifest is read through the confinement as images are (the driver checked its
    path, but it may have been replaced since): one that now resolves outside, or
    cannot be read, becomes one rejection, never a failed worker.
    """

    def __init__(self, layout: str, input_base: str, confinement: Confinement) -> None:
        self._layout = layout
        self._input_base = input_base
        self._confinement = confinement

    def process(self, uri: str) -> Iterator[Union[ImageItem, beam.pvalue.TaggedOutput]]:
        if self._layout == "folders":
            outcomes: Iterable[Union[ImageItem, Rejection]] = [folder_item(uri, self._input_base)]
        else:
            outcomes = self._manifest_rows(uri)
        for outcome in outcomes:
            yield _rejected(outcome) if isinstance(outcome, Rejection) else outcome

    def _manifest_rows(self, uri: str) -> list[Union[ImageItem, Rejection]]:
        manifest_path = relative_path(uri, self._input_base)
        try:
            data = _read_confined(uri, self._confinement)
            if data is None:
                return [Rejection(manifest_path, f"manifest {OUTSIDE_REASON}")]
            return list(parse_manifest(data.decode("utf-8-sig"), uri, self._input_base))
        except Exception as error:
            return [Rejection(manifest_path, f"cannot read manifest ({one_line(error)})")]


def _read_failure(uri: str, error: Exception) -> str:
    """Why a (confined) file could not be read, in one line."""
    if isinstance(error, (FileNotFoundError, tf.errors.NotFoundError, filesystem.NotFoundError)):
        dangling = os.path.lexists(uri) and not os.path.exists(uri)
        return "dangling symbolic link (its target does not exist)" if dangling else "file not found"
    if isinstance(error, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(error, PermissionError):
        return "cannot read file (permission denied)"
    return f"cannot read file ({one_line(error)})"


def _encode_item(item: ImageItem, settings: IngestSettings, confinement: Confinement, splits: OutputSplits) -> Union[_Encoded, Rejection]:
    """An image item -> its output split and encoded record, or its rejection; never raises.

    Only paths that resolve inside the confinement's roots are read (symlinks resolved first).
    """
    try:
        data = _read_confined(item.uri, confinement)
    except Exception as error:  # any I/O failure is a rejection, not a failed worker
        return Rejection(item.path, _read_failure(item.uri, error))
    if data is None:
        return Rejection(item.path, OUTSIDE_REASON)
    example = classify(data, item, settings)
    return example if isinstance(example, Rejection) else encode_example(example, splits)


class _EncodeImages(beam.DoFn):
    """A batch of image items -> per output split the batch's framed records as one byte string; rejections; the accepted count.

    Everything per image runs on a thread pool, so one Beam worker keeps every core of its machine busy.
    """

    def __init__(self, settings: IngestSettings, confinement: Confinement, splits: OutputSplits) -> None:
        self._settings = settings
        self._confinement = confinement
        self._splits = splits
        self._pool: Optional[ThreadPoolExecutor] = None

    def setup(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._settings.worker_threads(), thread_name_prefix="read-images")

    def process(self, items: list[ImageItem]) -> Iterator[beam.pvalue.TaggedOutput]:
        assert self._pool is not None, "setup() creates the thread pool"
        framed: dict[int, list[bytes]] = defaultdict(list)
        for outcome in self._pool.map(
            _encode_item, items, itertools.repeat(self._settings), itertools.repeat(self._confinement), itertools.repeat(self._splits)
        ):
            if isinstance(outcome, Rejection):
                yield _rejected(outcome)
            else:
                framed[outcome[0]].append(outcome[1])
        for index, records in framed.items():
            yield beam.pvalue.TaggedOutput(_split_tag(index), b"".join(records))
        yield beam.pvalue.TaggedOutput(_ACCEPTED, sum(len(records) for records in framed.values()))

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class _CountOutcomes(beam.CombineFn):
    """Accepted counts (ints) and rejections (JSON) -> SplitCounts as JSON, with the smallest rejection."""

    def create_accumulator(self) -> tuple[int, int, str]:
        return 0, 0, ""

    def add_input(self, counts: tuple[int, int, str], outcome: Union[int, str]) -> tuple[int, int, str]:
        accepted, rejected, first = counts
        if isinstance(outcome, int):
            return accepted + outcome, rejected, first
        return accepted, rejected + 1, min(first, outcome) if first else outcome

    def merge_accumulators(self, accumulators: Iterable[tuple[int, int, str]]) -> tuple[int, int, str]:
        merged = self.create_accumulator()
        for accepted, rejected, first in accumulators:
            merged = merged[0] + accepted, merged[1] + rejected, min(filter(None, (merged[2], first)), default="")
        return merged

    def extract_output(self, counts: tuple[int, int, str]) -> str:
        accepted, rejected, first = counts
        return SplitCounts(accepted, rejected, Rejection.from_json(first) if first else None).to_json()


def _write_file(text: str, path: str) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(text.encode("utf-8"))


def _check_manifest(uri: str, input_base: str, confinement: Confinement) -> str:
    """The path to read manifest `uri` from (its real path); raises ManifestError when it is outside or unreadable."""
    manifest_path = relative_path(uri, input_base)
    target = confinement.resolve(uri)
    if target is None:
        raise ManifestError(f"manifest {manifest_path}: {OUTSIDE_REASON}")
    try:
        with fileio.open(target, "r") as handle:
            header = next(csv.reader([handle.readline().lstrip("\ufeff")]), [])
    except Exception as error:
        raise ManifestError(f"manifest {manifest_path}: {_read_failure(uri, error)}") from None
    check_manifest_header(header, manifest_path)
    return target


def _matched_files(input_base: str, split_pattern: str, settings: IngestSettings) -> list[str]:
    uris = sorted(fileio.glob(os.path.join(input_base, split_pattern)))
    if not uris:
        raise FileNotFoundError(f"{COMPONENT_NAME}: split pattern {split_pattern!r} matches no files under {input_base}")
    if settings.layout == "manifest":
        confinement = Confinement.of(input_base, settings.allowed_roots)
        for uri in uris:
            _check_manifest(uri, input_base, confinement)
    return uris


def _ingest_split(
    pipeline: beam.Pipeline,
    input_split: example_gen_pb2.Input.Split,
    input_base: str,
    settings: IngestSettings,
    splits: OutputSplits,
    report_uri: str,
) -> list[beam.pvalue.PCollection]:
    """One input split's images as batches of framed records, one PCollection per output split in `splits`.

    Its rejections and counts are written to `report_uri`.
    """
    uris = _matched_files(input_base, input_split.pattern, settings)
    name = input_split.name
    confinement = Confinement.of(input_base, settings.allowed_roots)
    listed = (
        pipeline
        | f"ListFiles[{name}]" >> beam.Create(uris, reshuffle=False)
        | f"ToItems[{name}]" >> beam.ParDo(_ToItems(settings.layout, input_base, confinement)).with_outputs(_REJECTED, main="items")
    )
    split_tags = [_split_tag(index) for index in range(len(splits.names))]
    encoded = (
        listed.items
        | f"Reshuffle[{name}]" >> beam.Reshuffle()
        | f"Batch[{name}]" >> beam.BatchElements(min_batch_size=1, max_batch_size=_READ_BATCH_SIZE)
        | f"EncodeImages[{name}]" >> beam.ParDo(_EncodeImages(settings, confinement, splits)).with_outputs(_REJECTED, _ACCEPTED, *split_tags)
    )
    rejected = (listed[_REJECTED], encoded[_REJECTED]) | f"AllRejected[{name}]" >> beam.Flatten()
    _ = rejected | f"WriteRejected[{name}]" >> beam.io.WriteToText(os.path.join(report_uri, "rejected"), file_name_suffix=".jsonl")
    _ = (
        (encoded[_ACCEPTED], rejected)
        | f"AllOutcomes[{name}]" >> beam.Flatten()
        | f"CountOutcomes[{name}]" >> beam.CombineGlobally(_CountOutcomes())
        | f"WriteCounts[{name}]" >> beam.Map(_write_file, os.path.join(report_uri, COUNTS_FILE))
    )
    return [encoded[tag] for tag in split_tags]


class Executor(base_beam_executor.BaseBeamExecutor):
    """Ingests folders (or CSV manifests) of images; fails when more than `max_rejected_fraction` is rejected.

    Output as every TFX ExampleGen's: serialized tf.Examples in GZIP TFRecord files
    `Split-<name>/data_tfrecord-*.gz`, split by the output config's hash buckets or
    by the input splits.
    """

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        settings = IngestSettings.from_exec_property(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY))
        input_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        input_splits = list(input_config.splits)
        if len({split.pattern for split in input_splits}) != len(input_splits):
            raise ValueError(f"{COMPONENT_NAME}: input splits must have distinct patterns")
        if output_config.split_config.splits and len(input_splits) != 1:
            raise ValueError(f"{COMPONENT_NAME}: hash-bucket output splits need exactly one input split, got {len(input_splits)}")
        output_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(output_names)
        report_dirs = {split.name: report_dir(examples.uri, split.name) for split in input_splits}

        with self._make_beam_pipeline() as pipeline:
            for position, input_split in enumerate(input_splits):
                if output_config.split_config.splits:
                    splits = OutputSplits(tuple(output_names), output_config.split_config)
                else:
                    splits = OutputSplits((output_names[position],))
                records = _ingest_split(
                    pipeline, input_split, exec_properties[standard_component_specs.INPUT_BASE_KEY], settings, splits, report_dirs[input_split.name]
                )
                for name, split_records in zip(splits.names, records):
                    _ = split_records | f"WriteSplit[{name}]" >> write_framed_records(artifact_utils.get_split_uri([examples], name))
        self._set_formats(examples, exec_properties)

        counts = {name: _read_counts(directory) for name, directory in report_dirs.items()}
        examples.set_int_custom_property(ACCEPTED_COUNT_PROPERTY, sum(each.accepted for each in counts.values()))
        examples.set_int_custom_property(REJECTED_COUNT_PROPERTY, sum(each.rejected for each in counts.values()))
        warning = check_rejections(counts, settings.max_rejected_fraction)
        if warning:
            logging.warning("%s (all rejections: %s)", warning, os.path.join(examples.uri, REJECTED_DIR))

    @staticmethod
    def _set_formats(examples: types.Artifact, exec_properties: dict[str, Any]) -> None:
        """The payload and file format properties, as TFX's ExampleGen executors set them."""
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format:
            examples_utils.set_payload_format(examples, payload_format)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY, example_gen_pb2.FILE_FORMAT_UNSPECIFIED)
        if file_format:
            examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))


def _read_counts(directory: str) -> SplitCounts:
    with fileio.open(os.path.join(directory, COUNTS_FILE), "r") as handle:
        return SplitCounts.from_json(handle.read())
