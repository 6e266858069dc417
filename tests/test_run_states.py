"""Run outcomes: a run killed at the push is `interrupted`, never `cached` or `ok`; marks survive in ML Metadata."""

from __future__ import annotations

from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from retrain.pipelines.report.runs import NodeRun, list_runs
from retrain.pipelines.run_states import FINISHED, INTERRUPTED, mark_runs, run_outcome
from retrain.pipelines.run_summary import open_store

_Execution = metadata_store_pb2.Execution
COMPLETE, CACHED, RUNNING, FAILED = _Execution.COMPLETE, _Execution.CACHED, _Execution.RUNNING, _Execution.FAILED
UPSTREAM = ("ImportExampleGen", "Transform", "Trainer", "Evaluator")


def _nodes(*states: tuple[str, int]) -> dict[str, NodeRun]:
    """Node runs in execution order; finished ones have an output, as TFX records them."""
    artifact = metadata_store_pb2.Artifact(type="Examples")
    return {
        node: NodeRun(node, "step", _Execution(last_known_state=state), {}, {"out": [artifact]} if state in (COMPLETE, CACHED) else {})
        for node, state in states
    }


def test_run_killed_before_its_push_registered_is_interrupted_not_cached() -> None:
    nodes = _nodes(*((node, CACHED) for node in UPSTREAM))
    assert run_outcome(nodes, mark=None, live=False) == "interrupted after Evaluator"


def test_run_killed_during_its_push() -> None:
    nodes = _nodes(*((node, COMPLETE) for node in UPSTREAM), ("VersionedPusher", RUNNING))
    assert run_outcome(nodes, mark=None, live=False) == "interrupted at VersionedPusher"
    assert run_outcome(nodes, mark=None, live=True) == "running"
    assert run_outcome(nodes, mark=None, live=None) == "running or interrupted at VersionedPusher"
    assert run_outcome(nodes, mark=INTERRUPTED, live=True) == "interrupted at VersionedPusher"  # Ctrl-C, marked


def test_finished_runs() -> None:
    cached = _nodes(*((node, CACHED) for node in (*UPSTREAM, "VersionedPusher")))
    assert run_outcome(cached, mark=FINISHED, live=False) == "cached"
    assert run_outcome(cached, mark=None, live=False) == "cached"  # recorded before marks: its pusher ran
    fresh = _nodes(*((node, COMPLETE) for node in UPSTREAM), ("VersionedPusher", COMPLETE))
    assert run_outcome(fresh, mark=FINISHED, live=False) == "ok"
    backfill = _nodes(("ImportExampleGen", COMPLETE))
    assert run_outcome(backfill, mark=FINISHED, live=False) == "ok"


def test_failed_step_wins() -> None:
    nodes = _nodes(("ImportExampleGen", COMPLETE), ("Trainer", FAILED))
    assert run_outcome(nodes, mark="failed", live=False) == "failed at Trainer"


def test_marks_are_stored_on_the_runs_contexts(tmp_path: Path) -> None:
    store = open_store(tmp_path / "metadata.sqlite")
    pipeline_type = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline"))
    run_type = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline_run"))
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="step"))
    [pipeline] = store.put_contexts([metadata_store_pb2.Context(type_id=pipeline_type, name="pipe")])
    contexts = store.put_contexts([metadata_store_pb2.Context(type_id=run_type, name=name) for name in ("run-1", "run-2")])
    store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run, parent_id=pipeline) for run in contexts])
    executions = store.put_executions([_Execution(type_id=execution_type) for _ in contexts])
    associations = [metadata_store_pb2.Association(context_id=run, execution_id=ex) for run, ex in zip(contexts, executions)]
    store.put_attributions_and_associations([], associations)

    mark_runs(tmp_path / "metadata.sqlite", since_execution_id=executions[0], state=FINISHED)

    assert [(ref.run_id, ref.state_mark) for ref in list_runs(store)] == [("run-1", None), ("run-2", FINISHED)]
