"""Config validation: defaults, one-line errors naming the field, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.pipelines.config import ConfigError, RetrainConfig, config_from_dict, config_to_yaml, load_config


def test_defaults_describe_the_builtin_example() -> None:
    config = load_config(None)
    assert config.data.example == "digits"
    assert config.backbone.handle is None
    assert config.task.type == "image_classification"
    assert config.runner.type == "beam"


def test_effective_config_round_trips_through_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_to_yaml(RetrainConfig()))
    assert load_config(path) == RetrainConfig()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"training": {"epochz": 3}}, "training.epochz: Extra inputs are not permitted"),
        ({"training": {"epochs": 0}}, "training.epochs: Input should be greater than or equal to 1"),
        ({"training": {"mode": "everything"}}, "training.mode: Input should be 'feature_extraction', 'fine_tune' or 'incremental'"),
        ({"training": {"block_pattern": "block"}}, "training.block_pattern: needs exactly one capture group"),
        ({"training": {"block_pattern": "(unclosed"}}, "training.block_pattern: not a regular expression"),
        ({"labels": {"label_smoothing": 1.5}}, "labels.label_smoothing: Input should be less than 1"),
        ({"labels": {"on_problem": "ignore"}}, "labels.on_problem: Input should be 'error' or 'warn'"),
        ({"data": {"path": "d", "span_window": 3}, "backbone": {"handle": "b"}}, "data.span_window > 1 needs '{SPAN}'"),
        (
            {"data": {"path": "d", "format": "image_folders"}, "backbone": {"handle": "b"}, "task": {"type": "text_classification"}},
            "holds images: task.type must be image_classification",
        ),
        ({"evaluation": {"min_accuracy": 1.5}}, "evaluation.min_accuracy: Input should be less than or equal to 1"),
        ({"data": {"path": "d"}}, "data.path needs a backbone: set backbone.name (digits-cnn | efficientnet-lite0 | minilm-l6) or backbone.handle"),
        ({"data": {"example": "digits", "path": "d"}}, "data: data.example and data.path are mutually exclusive"),
        ({"data": {"path": "d", "train_pattern": "t/*"}}, "data.train_pattern and data.eval_pattern must be given together"),
        ({"task": {"type": "text_classification"}}, "the built-in digits example is an image_classification task"),
        ({"push": {"model_name": "my model"}}, "push.model_name: use letters, digits"),
        ({"backbone": {"image_size": [0, 8]}}, "backbone.image_size: both sides must be at least 1 pixel"),
        ({"runner": {"type": "spark"}}, "runner.type: Input should be 'beam' or 'local'"),
    ],
)
def test_invalid_configs_name_the_field(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(raw)
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_default_patterns_follow_the_format() -> None:
    def patterns(data: dict) -> list[str]:
        return config_from_dict({"data": {"path": "/d", **data}, "backbone": {"handle": "/b"}}).data.input_patterns()

    assert patterns({}) == ["*"]
    assert patterns({"format": "image_folders"}) == ["*/*"]
    assert patterns({"format": "image_manifest"}) == ["*.csv"]
    assert patterns({"pattern": "drop-{SPAN}/*", "span_window": 2}) == ["drop-{SPAN}/*"]
    assert patterns({"train_pattern": "t/*", "eval_pattern": "e/*"}) == ["t/*", "e/*"]


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config_from_dict(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "run.yaml"
    path.parent.mkdir()
    path.write_text("data: {path: ../data, format: csv}\nbackbone: {handle: models/bb}\ntask: {type: text_classification}\n")
    config = load_config(path)
    assert config.data.path == (tmp_path / "data").resolve()
    assert config.backbone.handle == str((tmp_path / "cfg" / "models" / "bb").resolve())


def test_url_handles_are_kept_as_given() -> None:
    config = config_from_dict({"data": {"path": "/d"}, "backbone": {"handle": "https://tfhub.dev/google/x/1"}})
    assert config.backbone.handle == "https://tfhub.dev/google/x/1"
    assert config.backbone.is_remote()


def test_malformed_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  epochs: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+, column \d+\)"):
        load_config(path)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Path("/nonexistent/retrain.yaml"))


def test_model_name_defaults_to_the_pipeline_name() -> None:
    assert RetrainConfig().push.model_name == "digits"  # the built-in example
    assert config_from_dict({"pipeline_name": "myicons"}).push.model_name == "myicons"
    assert config_from_dict({"pipeline_name": "myicons", "push": {"model_name": "icons"}}).push.model_name == "icons"
    assert config_from_dict({"pipeline_name": "myicons", "push": {"destination": "/srv"}}).push.model_name == "myicons"
