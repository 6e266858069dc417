"""The evaluation baseline is the latest blessed model, never the candidate itself."""
from __future__ import annotations

from tfx.components.evaluator import constants
from tfx.types import standard_artifacts

from components.baseline_resolver.strategy import latest_blessed_other_than


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
