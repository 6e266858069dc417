"""Executor of ImageFolderExampleGen: lists each split's files, then reads and validates the images in Beam.

Per input split: matched files -> image items (folder layout: the file itself;
manifest layout: the manifest's rows) -> Reshuffle -> batches read + fully decoded by PIL
on a thread pool ->
tf.Examples (split further by the base executor) and rejected records. The
rejected records (`rejected-*.jsonl`, one JSON object `{"path", "reason"}` a line)
and `counts.json` go to `<examples uri>/rejected/Split-<input split>/`; after the
Beam job the totals become the artifact's `accepted_count` / `rejected_count`
custom properties and are checked against `max_rejected_fraction`.
"""
from __future__ import annotations

import csv
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Iterator, Optional, TypeVar, Union

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.image_example_gen.records import (
    ImageItem,
    Rejection,
    check_manifest_header,
    classify,
    folder_item,
    one_line,
    parse_manifest,
    relative_path,
)
from components.image_example_gen.report import COMPONENT_NAME, SplitCounts, check_rejections
from components.image_example_gen.report import (
    ACCEPTED_COUNT_PROPERTY,
    COUNTS_FILE,
    REJECTED_COUNT_PROPERTY,
    REJECTED_DIR,
)
from components.image_example_gen.settings import IngestSettings

_REPORT_DIRS_KEY = "_image_example_gen_report_dirs"  # split pattern -> report directory, set by Do
_REJECTED = "rejected"
_READ_BATCH_SIZE = 64  # images handed to the read thread pool at a time
_Output = TypeVar("_Output")


def report_dir(examples_uri: str, split_name: str) -> str:
    """Where an input split's rejected records (`rejected-*.jsonl`) and `counts.json` are written."""
    return os.path.join(examples_uri, REJECTED_DIR, f"Split-{split_name}")


def _read(uri: str) -> bytes:
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def _tagged(outcome: Union[_Output, Rejection]) -> Union[_Output, beam.pvalue.TaggedOutput]:
    """Rejections go to the rejected output as JSON lines, anything else to the main output."""
    return beam.pvalue.TaggedOutput(_REJECTED, outcome.to_json()) if isinstance(outcome, Rejection) else outcome


class _ToItems(beam.DoFn):
    """A matched file -> the image items it stands for: itself (folders) or its rows (manifest)."""

    def __init__(self, layout: str, input_base: str) -> None:
        self._layout = layout
        self._input_base = input_base

    def process(self, uri: str) -> Iterator[Union[ImageItem, beam.pvalue.TaggedOutput]]:
        if self._layout == "folders":
            yield _tagged(folder_item(uri, self._input_base))
            return
        try:
            for outcome in parse_manifest(_read(uri).decode("utf-8-sig"), uri, self._input_base):
                yield _tagged(outcome)
        except Exception as error:  # unreadable manifest: one rejection, never a failed worker
            yield _tagged(Rejection(relative_path(uri, self._input_base), f"cannot read manifest ({one_line(error)})"))


def _read_outcome(item: ImageItem, settings: IngestSettings) -> Union[tf.train.Example, Rejection]:
    """An image item -> its tf.Example, or its rejection; never raises."""
    try:
        data = _read(item.uri)
    except FileNotFoundError:
        return Rejection(item.path, "file not found")
    except IsADirectoryError:
        return Rejection(item.path, "is a directory, not a file")
    except Exception as error:  # any other I/O failure is a rejection, not a failed worker
        return Rejection(item.path, f"cannot read file ({one_line(error)})")
    return classify(data, item, settings)


class _ReadImages(beam.DoFn):
    """A batch of image items -> their tf.Examples, and rejection records (JSON) on the rejected output.

    Reading and decoding run on a thread pool: file reads and PIL's decoders release
    the GIL, so one Beam worker keeps every core of its machine busy.
    """

    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        self._pool: Optional[ThreadPoolExecutor] = None

    def setup(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._settings.worker_threads(), thread_name_prefix="read-images")

    def process(self, items: list[ImageItem]) -> Iterator[Union[tf.train.Example, beam.pvalue.TaggedOutput]]:
        assert self._pool is not None, "setup() creates the thread pool"
        for outcome in self._pool.map(_read_outcome, items, itertools.repeat(self._settings)):
            yield _tagged(outcome)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class _CountOutcomes(beam.CombineFn):
    """Outcomes ("" for an example, a rejection's JSON otherwise) -> SplitCounts as JSON, with the smallest rejection."""

    def create_accumulator(self) -> tuple[int, int, str]:
        return 0, 0, ""

    def add_input(self, counts: tuple[int, int, str], outcome: str) -> tuple[int, int, str]:
        accepted, rejected, first = counts
        if not outcome:
            return accepted + 1, rejected, first
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


def _check_manifest(uri: str, input_base: str) -> None:
    with fileio.open(uri, "r") as handle:
        header = next(csv.reader([handle.readline().lstrip("\ufeff")]), [])
    check_manifest_header(header, relative_path(uri, input_base))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ImagesToExample(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    """One input split's images as tf.Examples; its rejections and counts are written beside the examples."""
    settings = IngestSettings.from_exec_property(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY))
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    split_report_dir = exec_properties[_REPORT_DIRS_KEY][split_pattern]
    uris = sorted(fileio.glob(os.path.join(input_base, split_pattern)))
    if not uris:
        raise FileNotFoundError(f"{COMPONENT_NAME}: split pattern {split_pattern!r} matches no files under {input_base}")
    if settings.layout == "manifest":
        for uri in uris:
            _check_manifest(uri, input_base)
    listed = (
        pipeline
        | "ListFiles" >> beam.Create(uris, reshuffle=False)
        | "ToItems" >> beam.ParDo(_ToItems(settings.layout, input_base)).with_outputs(_REJECTED, main="items")
    )
    read = (
        listed.items
        | "Reshuffle" >> beam.Reshuffle()
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=_READ_BATCH_SIZE)
        | "ReadImages" >> beam.ParDo(_ReadImages(settings)).with_outputs(_REJECTED, main="examples")
    )
    rejected = (listed[_REJECTED], read[_REJECTED]) | "AllRejected" >> beam.Flatten()
    _ = rejected | "WriteRejected" >> beam.io.WriteToText(
        os.path.join(split_report_dir, "rejected"), file_name_suffix=".jsonl"
    )
    _ = (
        (read.examples | "MarkAccepted" >> beam.Map(lambda _: ""), rejected)
        | "AllOutcomes" >> beam.Flatten()
        | "CountOutcomes" >> beam.CombineGlobally(_CountOutcomes())
        | "WriteCounts" >> beam.Map(_write_file, os.path.join(split_report_dir, COUNTS_FILE))
    )
    return read.examples


class Executor(BaseExampleGenExecutor):
    """Ingests folders (or CSV manifests) of images; fails when more than `max_rejected_fraction` is rejected."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _ImagesToExample

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        settings = IngestSettings.from_exec_property(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY))
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        splits = list(input_config.splits)
        if len({split.pattern for split in splits}) != len(splits):
            raise ValueError(f"{COMPONENT_NAME}: input splits must have distinct patterns")
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        report_dirs = {split.pattern: report_dir(examples.uri, split.name) for split in splits}
        super().Do(input_dict, output_dict, {**exec_properties, _REPORT_DIRS_KEY: report_dirs})

        counts: dict[str, SplitCounts] = {}
        for split in splits:
            with fileio.open(os.path.join(report_dirs[split.pattern], COUNTS_FILE), "r") as handle:
                counts[split.name] = SplitCounts.from_json(handle.read())
        examples.set_int_custom_property(ACCEPTED_COUNT_PROPERTY, sum(each.accepted for each in counts.values()))
        examples.set_int_custom_property(REJECTED_COUNT_PROPERTY, sum(each.rejected for each in counts.values()))
        warning = check_rejections(counts, settings.max_rejected_fraction)
        if warning:
            logging.warning("%s (all rejections: %s)", warning, os.path.join(examples.uri, REJECTED_DIR))
