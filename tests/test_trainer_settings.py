"""Typed trainer settings end to end: every config field that affects training reaches both trainers; a missing or unknown field is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retrain.components.trainer_settings import (
    CODE_VERSION_KEY,
    SETTINGS_KEY,
    TrainerSettings,
    trainer_settings_from,
    transform_settings_from,
    tuner_settings_from,
)
from retrain.pipelines.config import TrainingConfig, config_from_dict
from retrain.pipelines.paths import resolve_run_paths
from retrain.pipelines.pipeline import create_pipeline
from retrain.pipelines.trainer_settings import trainer_settings_for

# A valid value different from the base config's, for every `training` field (a new field must be added here).
CHANGED_TRAINING: dict[str, Any] = {
    "mode": "incremental",
    "epochs": 3,
    "batch_size": 8,
    "learning_rate": 0.02,
    "hidden_units": [16],
    "dropout": 0.3,
    "backbone_learning_rate_scale": 0.5,
    "unfreeze_blocks": 2,
    "layer_decay": 0.7,
    "fine_tune_epochs": 4,
    "backbone_train_mode": "training",
    "divergence_guard": False,
    "block_pattern": r"layer(\d+)",
    "warm_start": False,
    "seed": 7,
    "validation_fraction": 0.3,
    "early_stopping_patience": 2,
    "lr_schedule": "cosine",
    "warmup_epochs": 1.0,
    "augmentation": {"horizontal_flip": True},
    "mixed_precision": True,
    "cpu_mixed_precision": True,
    "torch_processes": 2,
}
TF_ONLY = {"augmentation"}  # the config refuses it with a PyTorch trainer
# Fields of other sections that change what a trainer trains on or with.
CHANGED_ELSEWHERE: dict[tuple[str, str], Any] = {
    ("task", "image_feature"): "picture",
    ("task", "label_feature"): "class",
    ("backbone", "image_size"): [16, 16],
    ("backbone", "channels"): 3,
    ("backbone", "handle"): "other_backbone",
    ("backbone", "torch_checkpoint"): "other.pt",
    ("data", "background"): "black",
}


def _base(tmp_path: Path) -> dict[str, Any]:
    return {
        "data": {"path": str(tmp_path)},
        "backbone": {"handle": str(tmp_path / "backbone"), "torch_checkpoint": str(tmp_path / "backbone.pt")},
        "training": {"validation_fraction": 0.2},
    }


def _received(raw: dict[str, Any], tmp_path: Path, trainer: str) -> dict[str, dict[str, Any]]:
    """The settings each trainer node of the pipeline built from `raw` receives, by trainer kind."""
    config = config_from_dict({**raw, "trainer": trainer}, tmp_path)
    received = {}
    for node in create_pipeline(config, resolve_run_paths(config, tmp_path)).components:
        if node.id in ("Trainer", "TorchTrainer"):
            received[node.id] = trainer_settings_from(json.loads(node.exec_properties["custom_config"])).model_dump()
    return received


def _with(raw: dict[str, Any], section: str, name: str, value: Any) -> dict[str, Any]:
    return {**raw, section: {**raw.get(section, {}), name: value}}


def test_the_test_changes_every_training_field() -> None:
    assert set(CHANGED_TRAINING) == set(TrainingConfig.model_fields)


@pytest.mark.parametrize("name", sorted(CHANGED_TRAINING))
def test_every_training_field_reaches_both_trainers(tmp_path: Path, name: str) -> None:
    base, trainer = _base(tmp_path), "tf" if name in TF_ONLY else "both"
    before = _received(base, tmp_path, trainer)
    after = _received(_with(base, "training", name, CHANGED_TRAINING[name]), tmp_path, trainer)
    assert set(before) == ({"Trainer"} if name in TF_ONLY else {"Trainer", "TorchTrainer"})
    for node_id in before:
        assert before[node_id] != after[node_id], f"training.{name} does not reach {node_id}"


@pytest.mark.parametrize(("section", "name"), sorted(CHANGED_ELSEWHERE))
def test_inputs_and_backbones_reach_both_trainers(tmp_path: Path, section: str, name: str) -> None:
    base = _base(tmp_path)
    before = _received(base, tmp_path, "both")
    after = _received(_with(base, section, name, CHANGED_ELSEWHERE[(section, name)]), tmp_path, "both")
    assert before["Trainer"] != after["Trainer"] and before["TorchTrainer"] != after["TorchTrainer"], f"{section}.{name}"


def test_the_tf_handle_and_the_pytorch_checkpoint_each_have_their_field(tmp_path: Path) -> None:
    received = _received(_base(tmp_path), tmp_path, "both")
    for settings in received.values():
        assert settings["tf_backbone_handle"] == str(tmp_path / "backbone")
        assert settings["torch_checkpoint"] == str(tmp_path / "backbone.pt")


def _custom_config(tmp_path: Path) -> dict[str, Any]:
    settings = trainer_settings_for(config_from_dict(_base(tmp_path), tmp_path))
    return {SETTINGS_KEY: settings.model_dump(mode="json"), CODE_VERSION_KEY: "v1"}


@pytest.mark.parametrize("name", ["epochs", "seed", "tf_backbone_handle", "augmentation"])
def test_a_missing_field_is_refused(tmp_path: Path, name: str) -> None:
    custom_config = _custom_config(tmp_path)
    del custom_config[SETTINGS_KEY][name]
    with pytest.raises(ValueError, match=rf"^trainer settings: {name}: Field required$"):
        trainer_settings_from(custom_config)


def test_an_unknown_field_or_envelope_key_is_refused(tmp_path: Path) -> None:
    custom_config = _custom_config(tmp_path)
    with pytest.raises(ValueError, match=r"^trainer settings: backbone_handle: Extra inputs are not permitted$"):
        trainer_settings_from({**custom_config, SETTINGS_KEY: {**custom_config[SETTINGS_KEY], "backbone_handle": "x"}})
    with pytest.raises(
        ValueError, match=r"^trainer custom_config: expected keys \['code_version', 'settings'\], got \['code_version', 'epochs', 'settings'\]$"
    ):
        trainer_settings_from({**custom_config, "epochs": 3})
    with pytest.raises(ValueError, match=r"^tuner custom_config: expected keys"):
        tuner_settings_from(custom_config)
    with pytest.raises(ValueError, match=r"^transform custom_config: expected keys"):
        transform_settings_from(custom_config)
    with pytest.raises(ValueError, match=r"^trainer settings: epochs: Input should be greater than or equal to 1$"):
        TrainerSettings.model_validate(custom_config[SETTINGS_KEY]).updated(epochs=0)


def test_the_pipeline_hands_every_component_settings_it_accepts(tmp_path: Path) -> None:
    raw = {**_base(tmp_path), "tuning": {"enabled": True}}
    config = config_from_dict({**raw, "trainer": "tf"}, tmp_path)
    nodes = {node.id: node for node in create_pipeline(config, resolve_run_paths(config, tmp_path)).components}
    expected = trainer_settings_for(config)
    assert trainer_settings_from(json.loads(nodes["Trainer"].exec_properties["custom_config"])) == expected
    settings, tuning = tuner_settings_from(json.loads(nodes["Tuner"].exec_properties["custom_config"]))
    assert settings == expected and tuning == config.tuning
    transform = json.loads(nodes["LabelMappedTransform"].exec_properties["custom_config"])
    inputs, vocabulary = transform_settings_from({**transform, "label_vocabulary": ["a", "b"]})
    assert inputs == expected.inputs and vocabulary == ["a", "b"]


def test_the_settings_module_imports_neither_tensorflow_nor_torch() -> None:
    code = "import sys, retrain.components.trainer_settings; print(sorted(m for m in ('tensorflow', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"


def test_both_tuners_refuse_settings_without_a_validation_subset(tmp_path: Path) -> None:
    custom_config = _custom_config(tmp_path)
    tuner_config = {**custom_config, "tuning": {"enabled": True}}
    assert tuner_settings_from(tuner_config)[1].enabled
    no_subset = {**tuner_config, SETTINGS_KEY: {**custom_config[SETTINGS_KEY], "validation_fraction": 0.0, "early_stopping_patience": 0}}
    with pytest.raises(ValueError, match=r"^tuning needs validation_fraction > 0: trials are compared on a validation subset"):
        tuner_settings_from(no_subset)
