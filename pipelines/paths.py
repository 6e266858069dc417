"""Where a run writes: everything under one output directory unless the config says otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `retrain history` without --config resolves its store without loading the config models
    from retrain.pipelines.config import RetrainConfig

DEFAULT_OUTPUT_DIR = Path("retrain-output")
METADATA_FILE = "metadata.sqlite"


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
        metadata_path=config.runner.metadata_path or default_metadata_path(output_dir),
        serving_dir=destination / config.push.model_name,
        examples_dir=output_dir / "examples",
    )


def default_metadata_path(output_dir: Path) -> Path:
    """`<output>/metadata.sqlite`: the store of a config without `runner.metadata_path` (the built-in example's)."""
    return output_dir.resolve() / METADATA_FILE
