"""The evaluation baseline is the latest blessed model, never the candidate itself."""

from __future__ import annotations

from pathlib import Path

from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator import constants
from tfx.types import standard_artifacts

from retrain.components.resolvers.baseline import (
    BLESSING_KEY,
    CANDIDATE_KEY,
    MODEL_KEY,
    LatestBlessedOtherModelStrategy,
    latest_blessed_other_than,
    pushed_model_ids,
)
from retrain.pipelines.run_summary import open_store


def _model(artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(artifact_id: int, model_id: int, blessed: bool) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = artifact_id
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model_id)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, int(blessed))
    return blessing


def test_latest_blessed_model_wins() -> None:
    models = [_model(1), _model(2), _model(3)]
    blessings = [_blessing(10, 1, True), _blessing(11, 2, True), _blessing(12, 3, False)]
    model, blessing = latest_blessed_other_than(models, blessings, excluded_model_ids=set())
    assert (model.id, blessing.id) == (2, 11)


def test_candidate_is_never_its_own_baseline() -> None:
    models = [_model(1), _model(2)]
    blessings = [_blessing(10, 1, True), _blessing(11, 2, True)]
    model, _ = latest_blessed_other_than(models, blessings, excluded_model_ids={2})
    assert model.id == 1
    assert latest_blessed_other_than([_model(2)], [_blessing(11, 2, True)], {2}) == (None, None)


def test_no_blessed_model_means_no_baseline() -> None:
    assert latest_blessed_other_than([_model(1)], [_blessing(10, 1, False)], set()) == (None, None)
    assert latest_blessed_other_than([], [], set()) == (None, None)


def _record_push(store, model_id: int, pushed: bool) -> None:
    """A pusher execution that took `model_id` as `model` and output a PushedModel saying whether it pushed."""
    push_type = store.put_artifact_type(standard_artifacts.PushedModel().artifact_type)
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="VersionedPusher"))
    pushed_model = metadata_store_pb2.Artifact(type_id=push_type, uri="/pushed")
    pushed_model.custom_properties["pushed"].int_value = int(pushed)
    [pushed_id] = store.put_artifacts([pushed_model])
    [execution_id] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type)])
    step = lambda key: metadata_store_pb2.Event.Path(steps=[metadata_store_pb2.Event.Path.Step(key=key)])  # noqa: E731
    store.put_events(
        [
            metadata_store_pb2.Event(artifact_id=model_id, execution_id=execution_id, type=metadata_store_pb2.Event.INPUT, path=step("model")),
            metadata_store_pb2.Event(
                artifact_id=pushed_id, execution_id=execution_id, type=metadata_store_pb2.Event.OUTPUT, path=step("pushed_model")
            ),
        ]
    )


def test_baseline_is_the_deployed_model_not_a_later_blessed_one_the_pusher_refused(tmp_path: Path) -> None:
    """A blessed model refused by the Pusher (e.g. too far below the best) must not become the next gate's reference."""
    store = open_store(tmp_path / "metadata.sqlite")
    model_type = store.put_artifact_type(standard_artifacts.Model().artifact_type)
    model_ids = store.put_artifacts([metadata_store_pb2.Artifact(type_id=model_type, uri=f"/m{index}") for index in range(3)])
    models = [_model(model_id) for model_id in model_ids]
    blessings = [_blessing(100 + index, model_id, True) for index, model_id in enumerate(model_ids[:2])]
    strategy = LatestBlessedOtherModelStrategy()
    inputs = {CANDIDATE_KEY: [models[2]], MODEL_KEY: models, BLESSING_KEY: blessings}

    assert strategy.resolve_artifacts(store, inputs)[MODEL_KEY][0].id == model_ids[1]  # nothing pushed yet: latest blessed
    _record_push(store, model_ids[0], pushed=True)
    _record_push(store, model_ids[1], pushed=False)
    assert pushed_model_ids(store) == {model_ids[0]}
    assert strategy.resolve_artifacts(store, inputs)[MODEL_KEY][0].id == model_ids[0]
