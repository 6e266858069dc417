"""Where a run writes: everything under one output directory unless the config says otherwise."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.config import RetrainConfig

DEFAULT_OUTPUT_DIR = Path("retrain-output")


@dataclass(frozen=True)
class RunPaths:
    """Resolved locations of a run's pipeline root, metadata store, push target and example data."""

    output_dir: Path
    pipeline_root: Path
    metadata_path: Path
    serving_dir: Path
    examples_dir: Path


def resolve_run_paths(config: RetrainConfig, output_dir: Path) -> RunPaths:
    """Applies the config's overrides to the defaults under `output_dir`."""
    output_dir = output_dir.resolve()
    destination = config.push.destination or output_dir / "serving"
    return RunPaths(
        output_dir=output_dir,
        pipeline_root=config.runner.pipeline_root or output_dir / "pipeline_root",
        metadata_path=config.runner.metadata_path or output_dir / "metadata.sqlite",
        serving_dir=destination / config.push.model_name,
        examples_dir=output_dir / "examples",
    )
