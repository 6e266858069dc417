"""The report's trainer-settings table: only what applies to the run's task and mode, plus label smoothing and class weights."""

from __future__ import annotations

from retrain.components.branches import PYTORCH, TENSORFLOW
from retrain.components.label_prep.label_map import LabelMap
from retrain.pipelines.config import RetrainConfig, config_from_dict
from retrain.pipelines.trainer_settings import trainer_settings_for
from retrain.pipelines.report.settings import shown_settings


def _recorded(config: RetrainConfig) -> dict:
    """The trainer settings as the report reads them back from ML Metadata (flattened, with the code version)."""
    return {**trainer_settings_for(config).model_dump(mode="json"), "code_version": "abc"}


def _names(rows: list) -> set[str]:
    return {name for name, _ in rows}


def test_text_fine_tune_shows_no_image_fields_and_no_incremental_ones() -> None:
    config = config_from_dict({"task": {"type": "text_classification"}, "data": {"example": "text"}, "training": {"mode": "fine_tune"}})
    label_map = LabelMap(labels=["a", "b"], class_weights=[0.75, 1.5], label_smoothing=0.1)
    rows = dict(shown_settings(_recorded(config), label_map, TENSORFLOW))
    hidden = {"image_size", "channels", "augmentation", "unfreeze_blocks", "layer_decay", "fine_tune_epochs", "code_version", "task_hidden_units"}
    assert not _names(rows.items()) & hidden
    assert {"backbone_learning_rate_scale", "backbone_train_mode", "learning_rate", "learning_rates_from"} <= set(rows)
    assert rows["label_smoothing"] == 0.1 and rows["class_weights"] == "0.75 to 1.5 by class (see the label map)"


def test_image_feature_extraction_hides_what_only_a_training_backbone_uses() -> None:
    config = config_from_dict({"trainer": "torch"})
    rows = dict(shown_settings(_recorded(config), LabelMap(labels=["a", "b"], class_weights=[1.0, 1.0]), PYTORCH))
    assert {"image_size", "channels", "augmentation", "learning_rate", "torch_processes"} <= set(rows)
    assert not set(rows) & {"backbone_learning_rate_scale", "backbone_train_mode", "block_pattern", "unfreeze_blocks", "tf_backbone_handle"}
    assert rows["class_weights"] == "none (every class 1.0)" and rows["label_smoothing"] == 0.0


def test_incremental_shows_its_phase_two_settings() -> None:
    rows = dict(shown_settings(_recorded(config_from_dict({"training": {"mode": "incremental"}})), None, TENSORFLOW))
    assert {"unfreeze_blocks", "layer_decay", "fine_tune_epochs", "block_pattern"} <= set(rows) and "label_smoothing" not in rows
