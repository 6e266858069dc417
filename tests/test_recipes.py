"""Recipes: per-task/mode default learning rates, the renamed backbone train mode, and the trainer settings they reach."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from retrain.pipelines.config import ConfigError, RetrainConfig, config_from_dict
from retrain.pipelines.recipes import CONFIG, Recipe, effective_rates

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _text(mode: str, **training: object) -> RetrainConfig:
    return config_from_dict({"task": {"type": "text_classification"}, "data": {"example": "text"}, "training": {"mode": mode, **training}})


def test_text_fine_tune_defaults_train_the_encoder_at_5e_5_and_the_head_at_1e_3() -> None:
    rates = _text("fine_tune").effective_rates()
    assert rates.learning_rate == pytest.approx(1e-3)
    assert rates.learning_rate * rates.backbone_learning_rate_scale == pytest.approx(5e-5)
    assert rates.source == "text_classification fine_tune recipe"


def test_image_modes_keep_the_rates_they_train_with_today() -> None:
    for mode in ("feature_extraction", "fine_tune", "incremental"):
        rates = config_from_dict({"training": {"mode": mode}}).effective_rates()
        assert (rates.learning_rate, rates.backbone_learning_rate_scale) == (1e-2, 0.1)


def test_rates_set_in_the_config_win_over_the_recipe() -> None:
    assert _text("fine_tune", learning_rate=0.02, backbone_learning_rate_scale=0.5).effective_rates().source == CONFIG
    mixed = _text("fine_tune", learning_rate=0.02).effective_rates()
    assert (mixed.learning_rate, mixed.backbone_learning_rate_scale) == (0.02, 0.05)
    assert mixed.source == "config + text_classification fine_tune recipe"


def test_a_backbone_recipe_sits_between_the_config_and_the_task_default() -> None:
    own = {"fine_tune": Recipe(3e-4, 0.2)}
    assert effective_rates("image_classification", "fine_tune", None, None, own).learning_rate == 3e-4
    assert effective_rates("image_classification", "fine_tune", 0.5, None, own).learning_rate == 0.5
    assert effective_rates("image_classification", "incremental", None, None, own).learning_rate == 1e-2


def test_the_text_example_in_fine_tune_mode_trains_the_encoder_slowly() -> None:
    """examples/text.yaml says fine_tune works: its rates must not be the 0.1 head / 0.01 encoder that collapsed."""
    raw = yaml.safe_load((EXAMPLES / "text.yaml").read_text())
    raw["training"]["mode"] = "fine_tune"
    rates = config_from_dict(raw, EXAMPLES).effective_rates()
    assert rates.learning_rate * rates.backbone_learning_rate_scale <= 1e-4
    assert rates.learning_rate <= 1e-2


def test_trainer_settings_carry_the_effective_rates_and_where_they_came_from() -> None:
    from retrain.pipelines.trainer_settings import trainer_settings_for

    settings = trainer_settings_for(_text("fine_tune"))
    assert (settings.learning_rate, settings.backbone_learning_rate_scale) == (1e-3, 0.05)
    assert settings.learning_rates_from == "text_classification fine_tune recipe"
    assert settings.backbone_train_mode == "inference" and settings.divergence_guard is True


def test_the_old_batchnorm_key_is_refused_with_the_new_name() -> None:
    with pytest.raises(
        ConfigError, match=r"^training: batchnorm was renamed backbone_train_mode .* inference \(was frozen\) or training \(was train\)$"
    ):
        config_from_dict({"training": {"batchnorm": "frozen"}})
    assert config_from_dict({"training": {"backbone_train_mode": "training"}}).training.backbone_train_mode == "training"
