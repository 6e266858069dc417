"""Several tasks on one backbone, the config side: `task.labels`, `task.loss_weights`, `evaluation.tasks`, and each bad input in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from retrain.components.trainer_settings import TrainerSettings, tuner_custom_config, tuner_settings_from
from retrain.components.tuning.space import TuningConfig
from retrain.pipelines.config import ConfigError, RetrainConfig, TaskConfig, config_from_dict, config_to_yaml, load_config
from retrain.pipelines.pipeline import eval_config_for
from retrain.pipelines.preflight import InputError, check_data
from retrain.pipelines.trainer_settings import trainer_settings_for


def _raw(tmp_path: Path, task: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {
        "data": {"path": str(tmp_path), "format": "csv"},
        "backbone": {"handle": "b"},
        "task": {"type": "text_classification", **task},
        **sections,
    }


def test_labels_normalise_to_tasks_with_the_first_as_main_label() -> None:
    task = TaskConfig.model_validate({"labels": ["category", "brand"], "loss_weights": {"brand": 0.5}})
    assert task.label_feature == "category"
    assert task.task_labels == ("category", "brand")
    assert task.task_loss_weights == (1.0, 0.5)


def test_one_label_column_is_one_task_as_before() -> None:
    assert TaskConfig().task_labels == ("label",) and TaskConfig().task_loss_weights == (1.0,)
    assert TaskConfig.model_validate({"label_feature": "class"}).task_labels == ("class",)
    assert TaskConfig.model_validate({"labels": ["class"], "label_feature": "class"}).task_labels == ("class",)


def test_per_task_thresholds_fall_back_to_the_global_ones(tmp_path: Path) -> None:
    config = RetrainConfig.model_validate(
        _raw(tmp_path, {"labels": ["category", "brand"]}, evaluation={"min_accuracy": 0.7, "tasks": {"brand": {"min_accuracy": 0.9}}})
    )
    evaluation = config.evaluation
    assert (evaluation.min_accuracy_of("brand"), evaluation.min_accuracy_of("category")) == (0.9, 0.7)
    assert evaluation.max_accuracy_drop_of("brand") == 0.0


def test_the_main_task_threshold_reaches_the_gate_of_a_single_task_run(tmp_path: Path) -> None:
    config = config_from_dict(_raw(tmp_path, {}, evaluation={"tasks": {"label": {"min_accuracy": 0.55, "max_accuracy_drop": 0.02}}}))
    threshold = eval_config_for(config).metrics_specs[0].metrics[1].threshold
    assert threshold.value_threshold.lower_bound.value == 0.55
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.02)


def test_a_multi_task_config_round_trips_through_yaml(tmp_path: Path) -> None:
    config = RetrainConfig.model_validate(_raw(tmp_path, {"labels": ["category", "brand"], "loss_weights": {"category": 2.0}}))
    assert RetrainConfig.model_validate(yaml.safe_load(config_to_yaml(config))) == config


def _write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"data: {{path: {tmp_path}, format: csv}}\nbackbone: {{handle: b, torch_checkpoint: c}}\n"
        f"task: {{type: text_classification, labels: [category, brand]}}\n{extra}"
    )
    return path


@pytest.mark.parametrize("trainer", ["tf", "torch", "both"])
def test_several_labels_load_for_every_trainer(tmp_path: Path, trainer: str) -> None:
    assert load_config(_write_config(tmp_path, f"trainer: {trainer}\n")).task.task_labels == ("category", "brand")


@pytest.mark.parametrize("trainer", ["tf", "torch", "both"])
def test_several_labels_load_with_the_search_for_every_trainer(tmp_path: Path, trainer: str) -> None:
    config = load_config(_write_config(tmp_path, f"trainer: {trainer}\ntuning: {{enabled: true}}\ntraining: {{validation_fraction: 0.2}}\n"))
    assert config.tuning.enabled and config.task.task_labels == ("category", "brand")


def test_the_search_with_several_labels_still_needs_a_validation_subset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config: tuning\.enabled needs training\.validation_fraction > 0"):
        load_config(_write_config(tmp_path, "tuning: {enabled: true}\n"))


@pytest.mark.parametrize(
    ("task", "sections", "expected"),
    [
        ({"labels": ["category", "category"]}, {}, "task.labels: 'category' is listed twice"),
        ({"labels": []}, {}, "task.labels: list at least one label column"),
        ({"labels": ["text", "brand"]}, {}, "task.labels: 'text' is the input feature, not a label"),
        ({"labels": ["category", "brand name"]}, {}, "task.labels: 'brand name' cannot name a task"),
        ({"labels": ["category", "brand"], "label_feature": "brand"}, {}, "task: label_feature 'brand' and labels ['category', 'brand'] disagree"),
        (
            {"labels": ["category", "brand"], "loss_weights": {"colour": 1.0}},
            {},
            "task.loss_weights: 'colour' is not a task (task labels: category, brand)",
        ),
        ({"loss_weights": {"colour": 1.0}}, {}, "task.loss_weights: 'colour' is not a task (task labels: label)"),
        ({"labels": ["category", "brand"], "loss_weights": {"brand": -0.5}}, {}, "task.loss_weights.brand: Input should be greater than 0"),
        ({"labels": ["category", "brand"], "loss_weights": {"brand": 0}}, {}, "task.loss_weights.brand: Input should be greater than 0"),
        ({"labels": ["category", "brand"], "loss_weights": {"brand": None}}, {}, "task.loss_weights.brand: Input should be a valid number"),
        ({"labels": ["category", "brand"]}, {"evaluation": {"tasks": {"colour": {}}}}, "config: evaluation.tasks: 'colour' is not a task"),
        ({"labels": ["category", "brand"]}, {"evaluation": {"tasks": {"brand": {"min_acc": 1}}}}, "evaluation.tasks.brand.min_acc: Extra inputs"),
    ],
)
def test_bad_task_input_is_one_line_naming_it(tmp_path: Path, task: dict, sections: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(_raw(tmp_path, task, **sections))
    assert expected in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"example": "digits"}, "the built-in digits example carries one label column"),
        ({"path": ".", "format": "image_folders"}, "data.format image_folders carries one label column"),
    ],
)
def test_sources_with_one_label_column_refuse_several_tasks(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        config_from_dict({"data": data, "backbone": {"handle": "b"}, "task": {"labels": ["category", "brand"]}})


def test_preflight_names_a_label_column_the_data_lacks(tmp_path: Path) -> None:
    (tmp_path / "messages.csv").write_text("text,category\nhello,greeting\n")
    config = RetrainConfig.model_validate(_raw(tmp_path, {"labels": ["category", "brand"]}))
    with pytest.raises(InputError, match=r"lacks column\(s\) \['brand'\]; header is \['text', 'category'\]$"):
        check_data(config)


def test_the_tuner_reads_several_tasks_and_the_settings_check_them(tmp_path: Path) -> None:
    raw = _raw(tmp_path, {"labels": ["category", "brand"], "loss_weights": {"brand": 0.5}}, training={"validation_fraction": 0.2})
    settings = trainer_settings_for(RetrainConfig.model_validate(raw))
    assert settings.task_labels == ("category", "brand") and settings.loss_weights == (1.0, 0.5) and settings.label_feature == "category"
    assert tuner_settings_from(tuner_custom_config(settings, "v", TuningConfig(enabled=True)))[0] == settings
    with pytest.raises(ValueError, match=r"task_hidden_units must be empty or one head per task of \['category', 'brand'\]"):
        TrainerSettings.model_validate({**settings.model_dump(), "task_hidden_units": ((8,),)})
    with pytest.raises(ValueError, match=r"loss_weights \[1.0\] must be one positive weight per task"):
        TrainerSettings.model_validate({**settings.model_dump(), "loss_weights": (1.0,)})
    with pytest.raises(ValueError, match=r"task_labels \['brand', 'category'\] must be distinct and start with label_feature 'category'"):
        TrainerSettings.model_validate({**settings.model_dump(), "task_labels": ("brand", "category"), "loss_weights": (1.0, 1.0)})
