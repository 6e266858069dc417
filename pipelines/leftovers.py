"""Outputs of steps that were killed: removed before the next run, so nothing mistakes them for results.

TFX creates a step's output directories (`<pipeline_root>/<node>/<output key>/<execution id>/`)
before its executor runs and records the artifacts only when it succeeds. A step killed
in between (Ctrl-C twice, SIGKILL, a lost machine) leaves its execution RUNNING in ML
Metadata and its directories behind, e.g. an empty `Trainer/model/7`. Called while the
run lock is held, no live run owns such an execution, so its directories can go. The
Trainer's resumable checkpoints (`Trainer/checkpoints/<fingerprint>/`) are not named
after an execution and stay.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from retrain.pipelines.run_summary import node_of, open_store

UNFINISHED = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)
SYSTEM_DIR = ".system"  # TFX's own working directories


def interrupted_executions(metadata_path: Path) -> list[tuple[int, str]]:
    """(execution id, node id) of every execution still NEW or RUNNING in the store."""
    if not metadata_path.exists():
        return []
    store = open_store(metadata_path)
    found = []
    for execution in store.get_executions():
        node = node_of(store, execution.id) if execution.last_known_state in UNFINISHED else None
        if node:
            found.append((execution.id, node))
    return found


def remove_interrupted_outputs(metadata_path: Path, pipeline_root: Path) -> list[Path]:
    """Deletes the output directories of interrupted executions; returns them. Only call while holding the run lock."""
    removed = []
    for execution_id, node in interrupted_executions(metadata_path):
        node_dir = pipeline_root / node
        if not node_dir.is_dir():
            continue
        for output_dir in sorted(node_dir.glob(f"*/{execution_id}")):
            if output_dir.parent.name != SYSTEM_DIR and output_dir.is_dir():
                shutil.rmtree(output_dir)
                removed.append(output_dir)
    return removed
