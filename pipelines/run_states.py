"""How a recorded run ended: `ok`, `cached`, `failed at NODE`, `interrupted at NODE`, `running`.

TFX records each step, not the run: a run killed between two steps (or before a step
registered) looks like a shorter run whose steps all succeeded. So `retrain run` marks
the `pipeline_run` contexts it created when `dag_runner.run` returns (`finished`), raises
(`failed`) or is interrupted (Ctrl-C: `interrupted`). A run without a mark was killed,
unless it is the store's newest run and a live `retrain run` holds the store's lock
(`running`); runs recorded before marks existed count as finished when their pusher ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Protocol

from ml_metadata.proto import metadata_store_pb2

from retrain.components.branches import BRANCHES
from retrain.pipelines.run_summary import executions_since, open_store

STATE_PROPERTY = "retrain_run_state"
FINISHED, FAILED, INTERRUPTED = "finished", "failed", "interrupted"
RUN_CONTEXT = "pipeline_run"
PUSHER_NODES = tuple(branch.pusher_id for branch in BRANCHES)  # the last step of every full run


class NodeState(Protocol):
    """What the outcome needs of a node's execution (pipelines/report/runs.py's NodeRun)."""

    node_id: str
    outputs: Mapping[str, object]

    @property
    def state(self) -> str: ...


def mark_runs(metadata_path: Path, since_execution_id: int, state: str) -> None:
    """Marks the `pipeline_run` contexts of the executions recorded after `since_execution_id` with `state`."""
    if not metadata_path.exists():
        return
    store = open_store(metadata_path)
    execution_ids = [execution.id for execution in executions_since(store, since_execution_id)]
    runs: dict[int, metadata_store_pb2.Context] = {}
    for execution_id in execution_ids:
        for context in store.get_contexts_by_execution(execution_id):
            if context.type == RUN_CONTEXT:
                runs[context.id] = context
    for context in runs.values():
        context.custom_properties[STATE_PROPERTY].string_value = state
    if runs:
        store.put_contexts(list(runs.values()))


def run_state_mark(context: metadata_store_pb2.Context) -> Optional[str]:
    """The state `retrain run` marked a run context with (None: unmarked)."""
    value = context.custom_properties.get(STATE_PROPERTY)
    return value.string_value if value is not None else None


def run_outcome(nodes: Mapping[str, NodeState], mark: Optional[str], live: Optional[bool]) -> str:
    """The run's outcome from its nodes (in execution order), its mark and whether it is the live run (None: unknown)."""
    failed = [node.node_id for node in nodes.values() if node.state in ("failed", "canceled")]
    if failed:
        return f"failed at {', '.join(failed)}"
    unfinished = [node.node_id for node in nodes.values() if node.state == "running"]
    legacy_finished = mark is None and not unfinished and any(node in nodes for node in PUSHER_NODES)
    if mark == FINISHED or legacy_finished:
        if nodes and all(node.state == "cached" for node in nodes.values() if node.outputs):
            return "cached"
        return "ok"
    if mark == FAILED:
        return "failed"
    if mark is None and live:
        return "running"
    where = f"at {', '.join(unfinished)}" if unfinished else f"after {list(nodes)[-1]}" if nodes else "before its first step"
    if mark is None and live is None:
        return f"running or interrupted {where}"
    return f"interrupted {where}"
