"""Which recorded trainer settings the report shows: those that apply to the run's task and mode, plus the label map's."""

from __future__ import annotations

from typing import Any, Optional

from retrain.components.branches import BRANCHES, BY_FRAMEWORK
from retrain.components.label_prep.label_map import LabelMap

_INTERNAL = frozenset({"code_version", "task_hidden_units"})  # per-task head layers: set by tuned hyperparameters only, never recorded
_IMAGES_ONLY = frozenset({"image_size", "channels", "augmentation", "background"})
_BACKBONE_TRAINS = frozenset({"backbone_learning_rate_scale", "backbone_train_mode", "block_pattern"})
_INCREMENTAL_ONLY = frozenset({"unfreeze_blocks", "layer_decay", "fine_tune_epochs"})


def _other_branch_reads_only(name: str, task_type: Optional[str], framework: str) -> bool:
    """`name` is another branch's own setting (components/branches.py) that `framework`'s trainer does not borrow for this task."""
    branch = BY_FRAMEWORK.get(framework)
    if branch is not None and (name in branch.own_settings or (task_type, name) in branch.borrowed_settings):
        return False
    return any(name in other.own_settings for other in BRANCHES)


def _applies(name: str, task_type: Optional[str], mode: Optional[str], framework: str) -> bool:
    if name in _INTERNAL:
        return False
    if name in _IMAGES_ONLY and task_type != "image_classification":
        return False
    if _other_branch_reads_only(name, task_type, framework):
        return False
    if name in _BACKBONE_TRAINS and mode == "feature_extraction":
        return False
    return not (name in _INCREMENTAL_ONLY and mode != "incremental")


def _class_weights(label_map: LabelMap) -> str:
    weights = label_map.class_weights
    if not weights or all(weight == 1.0 for weight in weights):
        return "none (every class 1.0)"
    return f"{min(weights):.3g} to {max(weights):.3g} by class (see the label map)"


def shown_settings(settings: dict[str, Any], label_map: Optional[LabelMap], framework: str) -> list[tuple[str, Any]]:
    """(name, value) rows: the settings that apply to the trainer's framework, the run's task type and mode, then label smoothing and class weights."""
    task_type, mode = settings.get("task_type"), settings.get("mode")
    rows = [(name, value) for name, value in sorted(settings.items()) if _applies(name, task_type, mode, framework)]
    if label_map is not None:
        rows += [("label_smoothing", label_map.label_smoothing), ("class_weights", _class_weights(label_map))]
    return rows
