"""Back-filling spans: with `span_window: N`, the first run trains on the newest N spans already on disk.

ExampleGen ingests only the newest span per run, and the rolling window resolves
the spans ingested so far; without back-filling, spans dropped before the first
run (or while runs were paused) would never be trained on. Before a local run,
each span of the window that ExampleGen has not ingested yet (the newest
excepted: the run itself takes it) is ingested by a run of the pipeline's own
ExampleGen pinned to that span, under the same pipeline name and node id, so the
window resolver sees it like any other ingested span.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tfx.dsl.io import fileio
from tfx.orchestration.pipeline import Pipeline
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2

from retrain.components.compat.tfx_private import span_glob_and_regex, span_of_path
from retrain.components.span_ranges import static_span
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.paths import RunPaths
from retrain.pipelines.pipeline import example_gen_for, pipeline_of
from retrain.pipelines.report.spans import format_spans
from retrain.pipelines.run_summary import open_store

SPAN_PROPERTY = "span"


def spans_on_disk(input_base: str, patterns: list[str]) -> list[int]:
    """Span numbers present for every pattern (ascending), parsed as TFX's ExampleGen parses them."""
    common: set[int] = set()
    for index, pattern in enumerate(patterns):
        split = example_gen_pb2.Input.Split(name=f"split{index}", pattern=pattern)
        match_span, match_date, match_version = example_gen_utils.verify_split_pattern_specs(split)
        if not (match_span or match_date):
            return []
        glob, regex = span_glob_and_regex(input_base, split, match_span, match_date, match_version)
        found = {span_of_path(path, regex, match_span, match_date, match_version) for path in fileio.glob(glob)}
        common = found if index == 0 else common & found
    return sorted(common)


def ingested_spans(metadata_path: Path, pipeline_name: str, example_gen_id: str) -> set[int]:
    """Spans of the Examples that `example_gen_id` of `pipeline_name` has produced so far."""
    if not metadata_path.exists():
        return set()
    store = open_store(metadata_path)
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{example_gen_id}")
    if context is None:
        return set()
    return {
        artifact.custom_properties[SPAN_PROPERTY].int_value
        for artifact in store.get_artifacts_by_context(context.id)
        if SPAN_PROPERTY in artifact.custom_properties and artifact.state == artifact.LIVE
    }


def spans_to_backfill(on_disk: list[int], ingested: set[int], window: int) -> list[int]:
    """The spans of the newest `window` on disk that are not ingested yet, the newest one excepted."""
    return [span for span in on_disk[-window:-1] if span not in ingested]


def backfill_spans(config: RetrainConfig, paths: RunPaths, run: Callable[[Pipeline], None]) -> list[int]:
    """Ingests the window's missing spans, oldest first, each by the pipeline's ExampleGen pinned to it; returns them."""
    assert config.data.path is not None, "the data path is set before the pipeline is built"
    if config.data.span_window <= 1:
        return []
    on_disk = spans_on_disk(str(config.data.path), config.data.input_patterns())
    ingested = ingested_spans(paths.metadata_path, config.pipeline_name, example_gen_for(config).id)
    missing = spans_to_backfill(on_disk, ingested, config.data.span_window)
    for span in missing:
        print(f"[retrain] back-filling span {span} (span_window {config.data.span_window}; spans on disk: {format_spans(on_disk)})", flush=True)
        run(pipeline_of(config, paths, [example_gen_for(config, static_span(span))]))
    return missing
