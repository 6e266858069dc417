"""Multi-process DirectRunner against in-memory on the pipeline's Beam steps.

`beam_multiprocess_speedup`: photo-sized images in folders (benchmarks/ingest.py's generator) go through
the pipeline's nodes up to Transform (pipelines/pipeline.py: ImageFolderExampleGen, StatisticsGen,
SchemaGen, ExampleValidator, LabelPrep, LabelMappedTransform) once with
`--direct_running_mode=in_memory` and once with `multi_processing` and `--direct_num_workers=2`; the
ratio is the in-memory seconds over the multi-process seconds of ImageFolderExampleGen + StatisticsGen +
LabelMappedTransform, read from their MLMD executions (goal >= 1.0: worker start-up paid for).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.ingest import write_photo_like_images
from benchmarks.result import Result

TIMED = ("ImageFolderExampleGen", "StatisticsGen", "LabelMappedTransform")
MODES = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
AFTER_TRANSFORM = {"Trainer", "baseline_model_resolver", "Evaluator", "VersionedPusher"}


def _seconds_per_node(output: Path, images: Path, beam_args: list[str]) -> dict[str, float]:
    """Runs the pipeline's nodes up to Transform on `images`; seconds of each execution, by node id."""
    import ml_metadata as mlmd
    from tfx import v1 as tfx

    from retrain.pipelines.config import config_from_dict
    from retrain.pipelines.paths import resolve_run_paths
    from retrain.pipelines.pipeline import create_pipeline, nodes_without, pipeline_of

    config = config_from_dict(
        {
            "pipeline_name": "scaleout",
            "data": {"path": str(images), "format": "image_folders"},
            "backbone": {"handle": str(output / "no-backbone"), "image_size": [64, 64], "channels": 3},
            "runner": {"beam_args": beam_args, "enable_cache": False},
        }
    )
    paths = resolve_run_paths(config, output)
    nodes = nodes_without(create_pipeline(config, paths).components, AFTER_TRANSFORM)
    tfx.orchestration.LocalDagRunner().run(pipeline_of(config, paths, nodes))
    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(str(paths.metadata_path)))
    seconds = {}
    for execution in store.get_executions():
        (node,) = [c.name.rsplit(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        seconds[node] = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0
    return seconds


def beam_multiprocess_speedup(quick: bool) -> Result:
    """In-memory over multi-process seconds of the timed Beam steps on 300 (quick) or 2,000 images."""
    import retrain.pipelines  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)

    count = 300 if quick else 2000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_photo_like_images(root / "images", count)
        totals = {}
        for mode, beam_args in MODES.items():
            seconds = _seconds_per_node(root / mode, root / "images", beam_args)
            totals[mode] = sum(seconds[node] for node in TIMED)
            details = ", ".join(f"{node} {seconds[node]:.1f}s" for node in TIMED)
            print(f"beam_multiprocess_speedup: {mode}: {totals[mode]:.1f}s ({details}) on {count} images", file=sys.stderr)
    return Result(ratio=totals["in_memory"] / totals["multi_processing"], goal=1.0, lower_is_better=False)
