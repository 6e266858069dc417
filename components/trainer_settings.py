"""What Transform, the Tuner and both trainers are told: typed settings, built once from the config.

Framework-neutral (pydantic only: no TensorFlow, no torch), so the pipeline builder,
the TF trainer, the PyTorch executor and its DDP workers all read the same model.
The pipeline writes them into each component's `custom_config` (`*_custom_config`
below); the components read them back with `*_from_custom_config`, which refuses a
missing or unknown field with a one-line error instead of falling back to a default.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retrain.components.tuning.space import TUNING_KEY, TuningConfig

SETTINGS_KEY = "settings"  # custom_config key: the TrainerSettings (Trainer, Tuner, TorchTrainer) or InputSettings (Transform)
CODE_VERSION_KEY = "code_version"  # custom_config key: the components' fingerprint, so a code change invalidates the cache
LABEL_VOCABULARY_KEY = "label_vocabulary"  # Transform custom_config key, set by LabelMappedTransform's executor
TASK_VOCABULARIES_KEY = "task_vocabularies"  # with several tasks, also set: each task's classes in id order


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AugmentationConfig(_Strict):
    """Random image augmentation of training batches (off by default: digits must not be flipped)."""

    crop_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    horizontal_flip: bool = False
    brightness: float = Field(0.0, ge=0.0, le=1.0)

    @property
    def enabled(self) -> bool:
        return self.crop_fraction > 0 or self.horizontal_flip or self.brightness > 0


class InputSettings(_Strict):
    """How raw examples become the backbone's input (Transform's settings; the trainers' too).

    `background`: RGB in [0, 1] that transparent pixels are composited onto. `task_labels`: every
    task's label column, the main one (`label_feature`) first (one task: just it).
    """

    task_type: Literal["image_classification", "text_classification"]
    input_feature: str
    label_feature: str
    task_labels: tuple[str, ...] = Field(min_length=1)
    image_size: tuple[int, int]
    channels: Literal[1, 3]
    background: tuple[float, float, float]

    @model_validator(mode="after")
    def _main_task_first(self) -> "InputSettings":
        if self.task_labels[0] != self.label_feature or len(set(self.task_labels)) != len(self.task_labels):
            raise ValueError(f"task_labels {list(self.task_labels)} must be distinct and start with label_feature {self.label_feature!r}")
        return self

    @property
    def multitask(self) -> bool:
        """True when several label columns are learned on one backbone."""
        return len(self.task_labels) > 1


class TrainerSettings(InputSettings):
    """Everything the TF trainer, the Tuner and the PyTorch trainer need; every field is required.

    `tf_backbone_handle`: the TF Hub module (the TF trainer's backbone; the PyTorch text backbone
    truncates where it does); `torch_checkpoint`: the PyTorch trainer's backbone (None with `trainer: tf`).
    `learning_rate`/`backbone_learning_rate_scale` are the effective rates, `learning_rates_from` where they came from.
    `loss_weights`: each task's weight in the training loss, in `task_labels` order. `task_hidden_units`: each
    task's dense head layers in `task_labels` order where tuning gave every head its own depth; empty: every head has `hidden_units`.
    """

    tf_backbone_handle: Optional[str]
    torch_checkpoint: Optional[str]
    mode: Literal["feature_extraction", "fine_tune", "incremental"]
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0.0)
    backbone_learning_rate_scale: float = Field(gt=0.0, le=1.0)
    learning_rates_from: str
    hidden_units: tuple[int, ...]
    dropout: float = Field(ge=0.0, lt=1.0)
    unfreeze_blocks: int = Field(ge=1)
    layer_decay: float = Field(gt=0.0, le=1.0)
    fine_tune_epochs: int = Field(ge=1)
    backbone_train_mode: Literal["inference", "training"]
    divergence_guard: bool
    block_pattern: str
    warm_start: bool
    seed: int
    validation_fraction: float = Field(ge=0.0, lt=1.0)
    early_stopping_patience: int = Field(ge=0)
    lr_schedule: Literal["constant", "cosine"]
    warmup_epochs: float = Field(ge=0.0)
    augmentation: AugmentationConfig
    mixed_precision: bool
    cpu_mixed_precision: bool
    torch_processes: Optional[int] = Field(ge=1)
    loss_weights: tuple[float, ...] = Field(min_length=1)
    task_hidden_units: tuple[tuple[int, ...], ...]

    @model_validator(mode="after")
    def _a_weight_per_task(self) -> "TrainerSettings":
        if len(self.loss_weights) != len(self.task_labels) or min(self.loss_weights) <= 0:
            raise ValueError(f"loss_weights {list(self.loss_weights)} must be one positive weight per task of {list(self.task_labels)}")
        if self.task_hidden_units and len(self.task_hidden_units) != len(self.task_labels):
            raise ValueError(f"task_hidden_units must be empty or one head per task of {list(self.task_labels)}")
        return self

    @property
    def inputs(self) -> InputSettings:
        """The input part, as Transform receives it."""
        return InputSettings.model_validate(self.model_dump(include=set(InputSettings.model_fields)))

    def updated(self, **changes: Any) -> "TrainerSettings":
        """A copy with `changes` applied and validated (unknown names and bad values are refused)."""
        return _validated(TrainerSettings, {**self.model_dump(), **changes}, "trainer settings")


def _validated(model: type[BaseModel], raw: Any, what: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or what
        raise ValueError(f"{what}: {location}: {first['msg']}") from None


def trainer_custom_config(settings: TrainerSettings, code_version: str) -> dict[str, Any]:
    """The Trainer's / TorchTrainer's `custom_config`."""
    return {SETTINGS_KEY: settings.model_dump(mode="json"), CODE_VERSION_KEY: code_version}


def tuner_custom_config(settings: TrainerSettings, code_version: str, tuning: TuningConfig) -> dict[str, Any]:
    """The Tuner's `custom_config`: the trainer's plus the tuning section."""
    return {**trainer_custom_config(settings, code_version), TUNING_KEY: tuning.model_dump(mode="json")}


def transform_custom_config(inputs: InputSettings, code_version: str) -> dict[str, Any]:
    """Transform's `custom_config` (its executor adds the label vocabulary)."""
    return {SETTINGS_KEY: inputs.model_dump(mode="json"), CODE_VERSION_KEY: code_version}


def _envelope(custom_config: Mapping[str, Any], keys: set[str], what: str) -> None:
    if not isinstance(custom_config, Mapping) or set(custom_config) != keys:
        found = sorted(custom_config) if isinstance(custom_config, Mapping) else type(custom_config).__name__
        raise ValueError(f"{what} custom_config: expected keys {sorted(keys)}, got {found}")


def trainer_settings_from(custom_config: Mapping[str, Any]) -> TrainerSettings:
    """The TrainerSettings of a Trainer's or TorchTrainer's `custom_config`; ValueError names what is wrong."""
    _envelope(custom_config, {SETTINGS_KEY, CODE_VERSION_KEY}, "trainer")
    return _validated(TrainerSettings, custom_config[SETTINGS_KEY], "trainer settings")


def tuner_settings_from(custom_config: Mapping[str, Any]) -> tuple[TrainerSettings, TuningConfig]:
    """The TrainerSettings and the tuning section of the Tuner's / TorchTuner's `custom_config`; a search needs a validation subset."""
    _envelope(custom_config, {SETTINGS_KEY, CODE_VERSION_KEY, TUNING_KEY}, "tuner")
    settings = _validated(TrainerSettings, custom_config[SETTINGS_KEY], "trainer settings")
    if settings.validation_fraction <= 0:
        raise ValueError("tuning needs validation_fraction > 0: trials are compared on a validation subset of the train split")
    return settings, _validated(TuningConfig, custom_config[TUNING_KEY], "tuning")


def transform_settings_from(custom_config: Mapping[str, Any]) -> tuple[InputSettings, list[str]]:
    """The InputSettings and (main task's) label vocabulary of Transform's `custom_config`."""
    several = isinstance(custom_config, Mapping) and TASK_VOCABULARIES_KEY in custom_config
    _envelope(custom_config, {SETTINGS_KEY, CODE_VERSION_KEY, LABEL_VOCABULARY_KEY, *([TASK_VOCABULARIES_KEY] if several else [])}, "transform")
    return _validated(InputSettings, custom_config[SETTINGS_KEY], "input settings"), [str(label) for label in custom_config[LABEL_VOCABULARY_KEY]]


def task_vocabularies_from(custom_config: Mapping[str, Any], inputs: InputSettings) -> dict[str, list[str]]:
    """Each task's label vocabulary in Transform's `custom_config` (one task: the label vocabulary); ValueError names a missing task."""
    if not inputs.multitask:
        return {inputs.label_feature: [str(label) for label in custom_config[LABEL_VOCABULARY_KEY]]}
    vocabularies = custom_config.get(TASK_VOCABULARIES_KEY) or {}
    missing = [task for task in inputs.task_labels if task not in vocabularies]
    if missing:
        raise ValueError(f"transform custom_config: no label vocabulary of task(s) {missing}")
    return {task: [str(label) for label in vocabularies[task]] for task in inputs.task_labels}
