"""Pipeline runs as ML Metadata records them: one `pipeline_run` context per run, linking its executions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from retrain.components.branches import BRANCHES
from retrain.pipelines.run_states import run_outcome, run_state_mark
from retrain.pipelines.run_summary import NODE_CONTEXT, Step, node_of, open_store, split_node_context

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
_Execution = metadata_store_pb2.Execution
_Event = metadata_store_pb2.Event
_INPUT_EVENTS = (_Event.INPUT, _Event.DECLARED_INPUT)
_OUTPUT_EVENTS = (_Event.OUTPUT, _Event.DECLARED_OUTPUT)
_STATES = {
    _Execution.COMPLETE: "complete",
    _Execution.CACHED: "cached",
    _Execution.FAILED: "failed",
    _Execution.CANCELED: "canceled",
}
# Which framework a trainer node trains with, by execution type (components/branches.py); a node not listed shows its node id.
# trainer execution type -> framework, with the types of runs recorded before a move (history reads every run)
TRAINER_FRAMEWORKS = {name: branch.framework for branch in BRANCHES for name in (branch.trainer_type, *branch.earlier_trainer_types)}


class RunNotFound(LookupError):
    """The store holds no such run (or no store exists); the message is one line."""


def open_existing_store(metadata_path: Path) -> mlmd.MetadataStore:
    """Opens a run's MLMD store; RunNotFound instead of creating an empty one."""
    if not metadata_path.is_file():
        raise RunNotFound(f"no run recorded: {metadata_path} not found (run `retrain run` with the same --output first)")
    return open_store(metadata_path)


@dataclass(frozen=True)
class RunRef:
    """One recorded run: its pipeline, id (the `pipeline_run` context name) and start time."""

    pipeline_name: str
    run_id: str
    context_id: int
    created_ms: int
    state_mark: Optional[str] = None  # how `retrain run` saw it end (pipelines/run_states.py); None: unmarked

    @property
    def started(self) -> datetime:
        """When the run started, in local time."""
        return datetime.fromtimestamp(self.created_ms / 1000)


@dataclass
class NodeRun:
    """A node's execution within a run, with its input and output artifacts by key."""

    node_id: str
    type_name: str
    execution: metadata_store_pb2.Execution
    inputs: dict[str, list[metadata_store_pb2.Artifact]]
    outputs: dict[str, list[metadata_store_pb2.Artifact]]

    @property
    def state(self) -> str:
        """complete, cached, failed, canceled or running (anything unfinished)."""
        return _STATES.get(self.execution.last_known_state, "running")

    @property
    def seconds(self) -> float:
        """Wall time from the execution's registration to its last update."""
        execution = self.execution
        return max(0, execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000

    def property(self, name: str) -> Optional[str]:
        """An execution property (TFX stores them as custom properties), as a string; None if absent."""
        value = self.execution.custom_properties.get(name)
        if value is None:
            return None
        kind = value.WhichOneof("value")
        return None if kind is None else str(getattr(value, kind))

    def output(self, key: str) -> Optional[metadata_store_pb2.Artifact]:
        """The first output artifact under `key`."""
        return next(iter(self.outputs.get(key, [])), None)

    def input(self, key: str) -> Optional[metadata_store_pb2.Artifact]:
        """The first input artifact under `key`."""
        return next(iter(self.inputs.get(key, [])), None)


@dataclass
class RunRecord:
    """Everything a run's executions recorded, by node id in execution order."""

    ref: RunRef
    nodes: dict[str, NodeRun]

    def node(self, node_id: str) -> Optional[NodeRun]:
        """The node's execution in this run (None when it did not run)."""
        return self.nodes.get(node_id)

    @property
    def steps(self) -> list[Step]:
        """(node id, execution, output artifacts) of each node in execution order, as run_summary.summarize_steps reads them."""
        return [(node.node_id, node.execution, [a for artifacts in node.outputs.values() for a in artifacts]) for node in self.nodes.values()]

    def nodes_with_output(self, type_name: str) -> list[NodeRun]:
        """Nodes that produced an artifact of `type_name`, e.g. every trainer for `Model`."""
        return [node for node in self.nodes.values() if type_name in _output_types(node)]

    @property
    def outcome(self) -> str:
        """`ok`, `cached` (every node served from cache), `failed at NODE`, `running or interrupted at NODE`, ...

        Without knowing whether a live run holds the store (`retrain history` does: `run_outcome`).
        """
        return run_outcome(self.nodes, self.ref.state_mark, live=None)

    @property
    def trainers(self) -> list[str]:
        """The framework of each node that trained a model: TensorFlow first, then PyTorch (as the verdicts are listed)."""
        order = list(TRAINER_FRAMEWORKS.values())
        frameworks = [trainer_framework(node) for node in self.nodes_with_output("Model")]
        return sorted(frameworks, key=lambda name: order.index(name) if name in order else len(order))


def trainer_framework(node: NodeRun) -> str:
    """The framework of a trainer node (`tensorflow` for the TFX Trainer); the node id for a trainer not listed in TRAINER_FRAMEWORKS."""
    return TRAINER_FRAMEWORKS.get(node.type_name, node.node_id)


def _output_types(node: NodeRun) -> set[str]:
    return {artifact.type for artifacts in node.outputs.values() for artifact in artifacts}


def list_runs(store: mlmd.MetadataStore, pipeline_name: Optional[str] = None) -> list[RunRef]:
    """Every recorded run (of `pipeline_name` only, when given), oldest first."""
    runs = []
    for pipeline in store.get_contexts_by_type(PIPELINE_CONTEXT):
        if pipeline_name is not None and pipeline.name != pipeline_name:
            continue
        for child in store.get_children_contexts_by_context(pipeline.id):
            if child.type == RUN_CONTEXT:
                runs.append(RunRef(pipeline.name, child.name, child.id, child.create_time_since_epoch, run_state_mark(child)))
    return sorted(runs, key=lambda run: (run.created_ms, run.context_id))


def find_run(store: mlmd.MetadataStore, run_id: Optional[str] = None, pipeline_name: Optional[str] = None) -> RunRef:
    """The run named `run_id`, or the latest one; RunNotFound when there is none."""
    runs = list_runs(store, pipeline_name)
    scope = f" of pipeline '{pipeline_name}'" if pipeline_name else ""
    if not runs:
        raise RunNotFound(f"no pipeline run recorded{scope}")
    if run_id is None:
        return runs[-1]
    matches = [run for run in runs if run.run_id == run_id]
    if not matches:
        latest = ", ".join(run.run_id for run in runs[-3:])
        raise RunNotFound(f"no run '{run_id}'{scope}; the latest: {latest} (see `retrain history`)")
    return matches[-1]


def _artifacts_by_key(
    artifacts: dict[int, metadata_store_pb2.Artifact], events: list[metadata_store_pb2.Event], kinds: tuple[int, ...]
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    by_key: dict[str, list[metadata_store_pb2.Artifact]] = {}
    for event in events:
        if event.type in kinds:
            key = event.path.steps[0].key if event.path.steps else ""
            by_key.setdefault(key, []).append(artifacts[event.artifact_id])
    return by_key


def _node_ids_by_execution(store: mlmd.MetadataStore, pipelines: set[str]) -> dict[int, str]:
    """The node id of every execution of `pipelines`, read through their `node` contexts (`<pipeline>.<node id>`): one query per node.

    For many runs at once: `node_of` asks per execution, and MLMD's SQLite schema has no index
    on the execution side of associations, so each such query reads every association.
    """
    contexts = [(context, *split_node_context(context.name)) for context in store.get_contexts_by_type(NODE_CONTEXT)]
    return {
        execution.id: node
        for context, pipeline, node in contexts
        if pipeline in pipelines
        for execution in store.get_executions_by_context(context.id)
    }


def _records(store: mlmd.MetadataStore, refs: list[RunRef], node_ids: Callable[[int], Optional[str]]) -> list[RunRecord]:
    """The runs' executions (one query per run, through its context), then all their events and artifacts in one query each."""
    executions = {ref.context_id: sorted(store.get_executions_by_context(ref.context_id), key=lambda each: each.id) for ref in refs}
    execution_ids = [execution.id for run in executions.values() for execution in run]
    events = store.get_events_by_execution_ids(execution_ids) if execution_ids else []
    events_of: dict[int, list[metadata_store_pb2.Event]] = {}
    for event in events:
        events_of.setdefault(event.execution_id, []).append(event)
    artifact_ids = sorted({event.artifact_id for event in events})
    artifacts = {artifact.id: artifact for artifact in store.get_artifacts_by_id(artifact_ids)} if artifact_ids else {}
    records = []
    for ref in refs:
        nodes = {}
        for execution in executions[ref.context_id]:
            node_id = node_ids(execution.id)
            if node_id is None:
                continue
            own = events_of.get(execution.id, [])
            nodes[node_id] = NodeRun(
                node_id=node_id,
                type_name=execution.type,
                execution=execution,
                inputs=_artifacts_by_key(artifacts, own, _INPUT_EVENTS),
                outputs=_artifacts_by_key(artifacts, own, _OUTPUT_EVENTS),
            )
        records.append(RunRecord(ref, nodes))
    return records


def load_run(store: mlmd.MetadataStore, ref: RunRef) -> RunRecord:
    """The run's executions, with their inputs and outputs, by node: three queries plus one per execution for its node."""
    return _records(store, [ref], lambda execution_id: node_of(store, execution_id))[0]


def load_runs(store: mlmd.MetadataStore, refs: list[RunRef]) -> list[RunRecord]:
    """Many runs at once (`retrain history`): a query per run and per node, two more for all events and artifacts."""
    if not refs:
        return []
    return _records(store, refs, _node_ids_by_execution(store, {ref.pipeline_name for ref in refs}).get)


def derived_artifacts(store: mlmd.MetadataStore, artifact_id: int, type_name: str) -> list[metadata_store_pb2.Artifact]:
    """Artifacts of `type_name` that executions consuming `artifact_id` produced, oldest first."""
    consumers = {event.execution_id for event in store.get_events_by_artifact_ids([artifact_id]) if event.type in _INPUT_EVENTS}
    if not consumers:
        return []
    produced = {event.artifact_id for event in store.get_events_by_execution_ids(list(consumers)) if event.type in _OUTPUT_EVENTS}
    artifacts = store.get_artifacts_by_id(list(produced)) if produced else []
    return sorted((artifact for artifact in artifacts if artifact.type == type_name), key=lambda artifact: artifact.id)


def producing_run(store: mlmd.MetadataStore, artifact_id: int) -> Optional[str]:
    """The id of the run whose execution first produced `artifact_id`."""
    producers = sorted(event.execution_id for event in store.get_events_by_artifact_ids([artifact_id]) if event.type in _OUTPUT_EVENTS)
    if not producers:
        return None
    for context in store.get_contexts_by_execution(producers[0]):
        if context.type == RUN_CONTEXT:
            return context.name
    return None
