"""Runs a retrain pipeline locally and reports what it did."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from tfx import v1 as tfx

from pipelines.backfill import backfill_spans
from pipelines.builtin_example import materialize_builtin_example
from pipelines.config import RetrainConfig
from pipelines.paths import RunPaths, resolve_run_paths
from pipelines.pipeline import create_pipeline
from pipelines.preflight import check_backbone, run_preflight
from pipelines.run_summary import RunSummary, last_execution_id, summarize_run

RunnerName = Literal["beam", "local"]


def run_locally(
    config: RetrainConfig, output_dir: Path, runner: Optional[RunnerName] = None
) -> tuple[RunPaths, RunSummary]:
    """Prepares inputs, checks them, runs the pipeline with BeamDagRunner or LocalDagRunner, and summarises.

    With `span_window: N`, spans of the window on disk that were never ingested are ingested first (pipelines/backfill.py).
    """
    paths = resolve_run_paths(config, output_dir)
    check_backbone(config)  # a user-given handle fails fast, before the example is prepared
    config = materialize_builtin_example(config, paths)
    run_preflight(config)
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    pipeline = create_pipeline(config, paths)
    dag_runner = tfx.orchestration.LocalDagRunner() if (runner or config.runner.type) == "local" else _beam_runner()
    backfill_spans(config, paths, dag_runner.run)
    since = last_execution_id(paths.metadata_path)  # the summary is the run's own, back-filling excluded
    dag_runner.run(pipeline)
    return paths, summarize_run(paths.metadata_path, since)


def _beam_runner() -> "tfx.orchestration.experimental.BeamDagRunner":
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    return BeamDagRunner()
