"""Private TFX 1.16.0 symbols, one function each (see the package docstring; contracts in tests/test_compat.py)."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence, Union

import tensorflow as tf
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.base_example_gen_executor import _PartitionFn
from tfx.proto import example_gen_pb2, range_config_pb2


def example_gen_partition(record: Union[tf.train.Example, bytes], buckets: list[int], split_config: example_gen_pb2.SplitConfig) -> int:
    """The output split ExampleGen gives `record`, with `buckets` the cumulative hash buckets per split.

    Upstream: `_PartitionFn` in tfx/components/example_gen/base_example_gen_executor.py.
    Relied on: sha256 of the serialized record (or of `partition_feature_name`'s
    value) modulo the total buckets, then the split whose bucket range holds it.
    Needed so that ImageFolderExampleGen's parallel writer splits exactly as TFX's
    ExampleGen does.
    """
    return _PartitionFn(record, len(buckets), buckets, split_config)


def span_glob_and_regex(
    uri: str,
    split: example_gen_pb2.Input.Split,
    match_span: bool,
    match_date: bool,
    match_version: bool,
    range_config: Optional[range_config_pb2.RangeConfig] = None,
) -> tuple[str, str]:
    """A glob finding the files of `split`'s pattern under `uri`, and a regex capturing their span/date/version.

    Upstream: `_create_matching_glob_and_regex` in tfx/components/example_gen/utils.py.
    Needed by back-filling (pipelines/backfill.py) to list the spans on disk
    exactly as ExampleGen's driver matches them.
    """
    return example_gen_utils._create_matching_glob_and_regex(uri, split, match_span, match_date, match_version, range_config)


def span_of_path(path: str, regex: str, match_span: bool, match_date: bool, match_version: bool) -> Optional[int]:
    """The span number ExampleGen reads from `path` with `regex` (from `span_glob_and_regex`).

    Upstream: `_find_matched_span_version_from_path` in tfx/components/example_gen/utils.py,
    whose result is (span tokens, span, version string, version); this returns the span.
    Needed by back-filling, for the same reason as `span_glob_and_regex`.
    """
    return example_gen_utils._find_matched_span_version_from_path(path, regex, match_span, match_date, match_version)[1]


def parse_kubeflow_v2_executor_flags(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The Kubeflow V2 executor runner's command line: (its known flags, the rest as Beam arguments).

    Upstream: `_parse_flags` in tfx/orchestration/kubeflow/v2/container/kubeflow_v2_run_executor.py
    (argparse's `parse_known_args`: whatever it does not know is returned). Needed by the compiled steps' entrypoint, which
    registers retrain's artifact types and then runs TFX's own runner with TFX's own parser.
    Imported here, not at module level: the runner module is only needed inside a step.
    """
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    return kubeflow_v2_run_executor._parse_flags(list(argv))
