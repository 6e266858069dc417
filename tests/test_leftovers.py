"""Outputs of killed steps (e.g. an empty Trainer/model/N) are removed before the next run; nothing else is."""

from __future__ import annotations

from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from retrain.pipelines.leftovers import interrupted_executions, remove_interrupted_outputs
from retrain.pipelines.run_summary import open_store

_Execution = metadata_store_pb2.Execution


def _record(store, node: str, state: int) -> int:
    """An execution of `pipeline.node` in `state`, with the node context TFX gives it."""
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="tfx.components.trainer.component.Trainer"))
    context_type = store.put_context_type(metadata_store_pb2.ContextType(name="node"))
    [execution_id] = store.put_executions([_Execution(type_id=execution_type, last_known_state=state)])
    existing = store.get_context_by_type_and_name("node", f"pipe.{node}")
    context_id = existing.id if existing else store.put_contexts([metadata_store_pb2.Context(type_id=context_type, name=f"pipe.{node}")])[0]
    store.put_attributions_and_associations([], [metadata_store_pb2.Association(context_id=context_id, execution_id=execution_id)])
    return execution_id


def test_killed_trainer_outputs_go_and_everything_else_stays(tmp_path: Path) -> None:
    metadata, root = tmp_path / "metadata.sqlite", tmp_path / "pipeline_root"
    store = open_store(metadata)
    finished = _record(store, "Trainer", _Execution.COMPLETE)
    killed = _record(store, "Trainer", _Execution.RUNNING)
    for directory in (f"Trainer/model/{finished}", f"Trainer/model/{killed}", f"Trainer/model_run/{killed}", "Trainer/checkpoints/abc123"):
        (root / directory).mkdir(parents=True)
    (root / f"Trainer/model/{finished}/saved_model.pb").write_text("model")
    (root / f"Trainer/.system/{killed}").mkdir(parents=True)

    assert interrupted_executions(metadata) == [(killed, "Trainer")]
    removed = remove_interrupted_outputs(metadata, root)

    assert sorted(path.relative_to(root).as_posix() for path in removed) == [f"Trainer/model/{killed}", f"Trainer/model_run/{killed}"]
    assert (root / f"Trainer/model/{finished}/saved_model.pb").exists()
    assert (root / "Trainer/checkpoints/abc123").is_dir()  # resumable checkpoints are kept
    assert (root / f"Trainer/.system/{killed}").is_dir()
    assert remove_interrupted_outputs(metadata, root) == []


def test_no_store_means_nothing_to_remove(tmp_path: Path) -> None:
    assert remove_interrupted_outputs(tmp_path / "none.sqlite", tmp_path) == []
