"""Runs a retrain pipeline locally and reports what it did."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional

from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline

from retrain.components.compat.beam_private import use_hardware_crc32c
from retrain.pipelines.backfill import backfill_spans
from retrain.pipelines.builtin_example import materialize_builtin_example
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.paths import RunPaths, resolve_run_paths
from retrain.pipelines.pipeline import create_pipeline
from retrain.pipelines.leftovers import remove_interrupted_outputs
from retrain.pipelines.preflight import check_backbone, run_preflight
from retrain.pipelines.run_lock import hold_run_lock
from retrain.pipelines.run_states import FAILED, FINISHED, INTERRUPTED, mark_runs
from retrain.pipelines.run_tempdir import run_tempdir
from retrain.pipelines.run_summary import RunSummary, last_execution_id, summarize_run

if TYPE_CHECKING:
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

RunnerName = Literal["beam", "local"]


def run_locally(config: RetrainConfig, output_dir: Path, runner: Optional[RunnerName] = None) -> tuple[RunPaths, RunSummary]:
    """Prepares inputs, checks them, runs the pipeline with BeamDagRunner or LocalDagRunner, and summarises.

    With `span_window: N`, spans of the window on disk that were never ingested are ingested first (pipelines/backfill.py).
    The whole run holds the store's run lock (pipelines/run_lock.py); under it, outputs left by steps of
    earlier runs that were killed are removed first (pipelines/leftovers.py). Libraries' temporary files go to a
    directory of the run's own, removed when it ends (pipelines/run_tempdir.py).
    """
    use_hardware_crc32c()  # Beam's TFRecord checksums at CPU speed (components/compat/beam_private.py)
    paths = resolve_run_paths(config, output_dir)
    check_backbone(config)  # a user-given handle fails fast, before the example is prepared
    builtin = config.data.example is not None
    if not builtin:
        run_preflight(config)  # users' data is checked before anything is written
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    with hold_run_lock(paths.metadata_path), run_tempdir():  # RunLocked (one line) when another run uses this store
        for leftover in remove_interrupted_outputs(paths.metadata_path, paths.pipeline_root):
            print(f"[retrain] removed the output of an interrupted step: {leftover}", flush=True)
        config = materialize_builtin_example(config, paths)  # named backbones resolved, the built-in example prepared
        if builtin:
            run_preflight(config)
        pipeline = create_pipeline(config, paths)
        dag_runner = LocalDagRunner() if (runner or config.runner.type) == "local" else _beam_runner()
        backfill_spans(config, paths, lambda each: _run_and_mark(dag_runner, each, paths.metadata_path))
        since = last_execution_id(paths.metadata_path)  # the summary is the run's own, back-filling excluded
        _run_and_mark(dag_runner, pipeline, paths.metadata_path)
        return paths, summarize_run(paths.metadata_path, since)


def _run_and_mark(dag_runner: Any, pipeline: Pipeline, metadata_path: Path) -> None:
    """Runs `pipeline` and marks its run in ML Metadata as finished, failed or interrupted (pipelines/run_states.py)."""
    since = last_execution_id(metadata_path)
    try:
        dag_runner.run(pipeline)
    except KeyboardInterrupt:
        mark_runs(metadata_path, since, INTERRUPTED)
        raise
    except Exception:
        mark_runs(metadata_path, since, FAILED)
        raise
    mark_runs(metadata_path, since, FINISHED)


def _beam_runner() -> "BeamDagRunner":
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    return BeamDagRunner()
