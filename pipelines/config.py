"""The one configuration file of a run: schema, defaults and validation.

Every field has a default that reproduces the built-in digits example, so
`retrain run` needs no file at all. Relative paths are resolved against the
directory of the config file (or the working directory without one).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Sequence, Union

import yaml
from PIL import ImageColor
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from retrain.components.backbones.registry import backbone_names, backbone_spec
from retrain.components.branches import BRANCHES, ORIGINAL, TrainerChoice, branches_for
from retrain.components.image_example_gen.settings import DEFAULT_MAX_IMAGE_PIXELS
from retrain.components.label_prep.settings import LabelSettings
from retrain.components.trainer_settings import AugmentationConfig
from retrain.components.training_core.blocks import DEFAULT_BLOCK_PATTERN
from retrain.components.training_core.tasks import check_task_labels
from retrain.components.tuning.space import TuningConfig
from retrain.pipelines.config_error import ConfigError
from retrain.pipelines.kubeflow.settings import KubeflowSettings
from retrain.pipelines.data_format import infer_format, one_file_as_directory
from retrain.pipelines.recipes import EffectiveRates, effective_rates

_DEFAULT_PATTERNS = {"tfrecord": "*", "csv": "*", "image_folders": "*/*", "image_manifest": "*.csv"}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _is_url(handle: str) -> bool:
    """True for handles with a scheme (https://, gs://, ...), which are not local paths."""
    return re.match(r"^[a-z][a-z0-9+.-]*://", handle) is not None


def _check_name(value: str) -> str:
    if not _NAME_PATTERN.match(value):
        raise ValueError("use letters, digits, '_', '.', '-' only")
    return value


ResourceName = Annotated[str, AfterValidator(_check_name)]
PositiveWeight = Annotated[float, Field(gt=0.0)]


def background_rgb(value: Union[str, Sequence[int]]) -> tuple[int, int, int]:
    """A colour name, `#rrggbb` or three 0-255 values as an RGB triple; ValueError names what is wrong."""
    if isinstance(value, str):
        try:
            red, green, blue = ImageColor.getrgb(value)[:3]
        except ValueError:
            raise ValueError(f"unknown colour {value!r}: use a name (white, black, gray, ...), '#rrggbb' or [r, g, b]") from None
        return red, green, blue
    if len(value) != 3 or not all(0 <= channel <= 255 for channel in value):
        raise ValueError(f"an RGB colour needs three values in 0-255, got {list(value)}")
    return value[0], value[1], value[2]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskConfig(_Section):
    """What is learned and which features carry it.

    One label column (`label_feature`) is the simple case. `labels: [category, brand]`
    names several label columns learned on one shared backbone, one head per task; the
    first is the main task (`label_feature` follows it; setting both, they must agree).
    `loss_weights: {category: 1.0, brand: 0.5}` weights each task's loss (1.0 when left out).
    """

    type: Literal["image_classification", "text_classification"] = "image_classification"
    image_feature: str = "image"
    text_feature: str = "text"
    label_feature: str = "label"
    labels: Optional[tuple[str, ...]] = None
    loss_weights: dict[str, PositiveWeight] = {}

    @model_validator(mode="before")
    @classmethod
    def _label_feature_of_labels(cls, values: Any) -> Any:
        """`label_feature` is the first of `labels`: filled in when unset, refused when it names another column."""
        if not isinstance(values, dict) or not isinstance(values.get("labels"), (list, tuple)) or not values["labels"]:
            return values
        first = values["labels"][0]
        given = values.get("label_feature")
        if given is not None and given != first:
            raise ValueError(
                f"label_feature {given!r} and labels {list(values['labels'])} disagree: the first of labels is the main label (set only labels)"
            )
        return {**values, "label_feature": first}

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, value: Optional[tuple[str, ...]], info: ValidationInfo) -> Optional[tuple[str, ...]]:
        if value is not None:
            image = info.data.get("type", "image_classification") == "image_classification"
            check_task_labels(value, info.data.get("image_feature" if image else "text_feature", ""))
        return value

    @field_validator("loss_weights")
    @classmethod
    def _weights_of_tasks(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        tasks = info.data.get("labels") or (info.data.get("label_feature"),)
        unknown = sorted(set(value) - set(tasks))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a task (task labels: {', '.join(str(task) for task in tasks)})")
        return value

    @property
    def input_feature(self) -> str:
        """The raw feature the backbone consumes."""
        return self.image_feature if self.type == "image_classification" else self.text_feature

    @property
    def task_labels(self) -> tuple[str, ...]:
        """Every task's label column, the main one (`label_feature`) first."""
        return self.labels if self.labels is not None else (self.label_feature,)

    @property
    def task_loss_weights(self) -> tuple[float, ...]:
        """Each task's loss weight, in `task_labels` order."""
        return tuple(self.loss_weights.get(label, 1.0) for label in self.task_labels)


class DataConfig(_Section):
    """Where the labelled examples come from.

    Either `example` names a built-in dataset, or `path` points at a directory of
    files (or at one file: its directory, with `pattern` matching just that file) in `format`: TFRecords of tf.Example, CSV, `image_folders`
    (`<label>/<image>`) or `image_manifest` (CSV files `path,label`); left unset
    (or null), it is inferred from the files' extensions. With
    `train_pattern`/`eval_pattern` the splits are predefined; otherwise the files
    matching `pattern` (default by format: `*`, `*/*` for image folders, `*.csv`
    for manifests) are split by hash with `eval_fraction`. Images that cannot be
    used are written to a rejected-records output; more than
    `max_rejected_fraction` of them fails the run; each Beam worker reads and
    decodes images with `read_threads` threads (0: one per CPU core). Patterns may contain `{SPAN}` (and `{VERSION}`): each run
    ingests the newest span, and with `span_window: N` training and evaluation
    use the newest N spans ingested so far (spans of the window on disk but never
    ingested are back-filled before a local run).
    `schema_file` pins a TFDV schema (schema.pbtxt, e.g. from an earlier run's
    SchemaGen) so that drift in new data stops the run before training.
    Image ingestion reads only files whose real path (symlinks resolved) is inside
    `path` or one of `allowed_roots`; manifest rows and symlinks leading elsewhere
    are rejected. Images of more than `max_image_pixels` pixels (from the header,
    never decoded) are rejected. Transparent pixels are composited onto
    `background` (a colour name, `#rrggbb` or `[r, g, b]` in 0-255).
    `encoding`: the text encoding of CSV files (other than UTF-8, a local run ingests a
    UTF-8 copy staged under the output directory).
    """

    example: Optional[Literal["digits", "text", "emoji"]] = None
    path: Optional[Path] = None
    format: Literal["tfrecord", "csv", "image_folders", "image_manifest"] = "tfrecord"  # unset in a file: inferred
    pattern: Optional[str] = None
    train_pattern: Optional[str] = None
    eval_pattern: Optional[str] = None
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    span_window: int = Field(1, ge=1)
    schema_file: Optional[Path] = None
    max_rejected_fraction: float = Field(0.01, ge=0.0, le=1.0)
    read_threads: int = Field(0, ge=0)
    allowed_roots: tuple[Path, ...] = ()
    max_image_pixels: int = Field(DEFAULT_MAX_IMAGE_PIXELS, ge=1)
    background: Union[str, tuple[int, ...]] = "white"
    encoding: str = "utf-8"

    @field_validator("background")
    @classmethod
    def _known_colour(cls, value: Union[str, tuple[int, ...]]) -> Union[str, tuple[int, ...]]:
        background_rgb(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r} (e.g. utf-8, latin-1, cp1252)") from None
        return value

    @model_validator(mode="after")
    def _encoding_for_csv(self) -> "DataConfig":
        if codecs.lookup(self.encoding).name != "utf-8" and self.format != "csv":
            raise ValueError("data.encoding applies to data.format csv only")
        return self

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        if self.example is None and self.path is None:
            raise ValueError("set either data.example (a built-in dataset) or data.path")
        if self.example is not None and self.path is not None:
            raise ValueError("data.example and data.path are mutually exclusive")
        if (self.train_pattern is None) != (self.eval_pattern is None):
            raise ValueError("data.train_pattern and data.eval_pattern must be given together")
        if self.span_window > 1 and "{SPAN}" not in "".join(self.input_patterns()):
            raise ValueError("data.span_window > 1 needs '{SPAN}' in the data patterns")
        return self

    def input_patterns(self) -> list[str]:
        """The file patterns ExampleGen reads, relative to `path`."""
        if self.train_pattern is not None and self.eval_pattern is not None:
            return [self.train_pattern, self.eval_pattern]
        return [self.pattern or _DEFAULT_PATTERNS[self.format]]

    @property
    def background_unit_rgb(self) -> list[float]:
        """`background` as RGB in [0, 1], as Transform composites with it."""
        return [channel / 255 for channel in background_rgb(self.background)]

    @property
    def is_images(self) -> bool:
        """True for the image-file formats (ingested by ImageFolderExampleGen)."""
        return self.format in ("image_folders", "image_manifest")


class BackboneConfig(_Section):
    """The pretrained model to transfer: a built-in `name`, or your own `handle` / `torch_checkpoint`.

    `name` (efficientnet-lite0, minilm-l6, digits-cnn) resolves, for both trainers, to a
    packaged checkpoint converted once into a shared cache (`$RETRAIN_CACHE`, default
    `~/.cache/retrain`); its image size, channels and preprocessing come with it (the
    image size may be overridden). `handle` is a TF Hub handle, URL or local SavedModel
    path; `torch_checkpoint` the PyTorch trainer's backbone (`trainer: torch | both`): a
    TorchScript file for images (NCHW float input in [0, 1], embedding output) or a local
    Hugging Face model directory for text (loaded with `local_files_only`).
    """

    name: Optional[str] = None
    handle: Optional[str] = None
    torch_checkpoint: Optional[Path] = None
    image_size: tuple[int, int] = (8, 8)
    channels: Literal[1, 3] = 1

    @model_validator(mode="before")
    @classmethod
    def _inputs_of_name(cls, values: Any) -> Any:
        """A known name brings its image size (unless given) and channels; it excludes a handle of your own."""
        if not isinstance(values, dict) or values.get("name") not in backbone_names():
            return values
        given = sorted(key for key in ("handle", "torch_checkpoint") if values.get(key) is not None)
        if given:
            raise ValueError(f"name and {' / '.join(given)} are mutually exclusive: a built-in backbone by name, or your own")
        spec = backbone_spec(values["name"])
        if spec.kind != "image":
            return values
        if values.get("channels") not in (None, spec.channels):
            raise ValueError(f"{spec.name} takes {spec.channels}-channel images: leave channels out")
        return {**values, "image_size": values.get("image_size") or spec.image_size, "channels": spec.channels}

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            backbone_spec(value)  # ValueError naming the options
        return value

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 1:
            raise ValueError("both sides must be at least 1 pixel")
        return value

    def is_remote(self) -> bool:
        """True for URL handles (tfhub.dev, Kaggle, gs://), which are not checked locally."""
        return self.handle is not None and _is_url(self.handle)


class TrainingConfig(_Section):
    """How the head and the backbone are trained.

    `feature_extraction`: frozen backbone, new head. `fine_tune`: everything
    trains, the backbone at `learning_rate * backbone_learning_rate_scale`.
    `incremental`: the head for `epochs`, then the top `unfreeze_blocks` backbone
    blocks (found by `block_pattern` in the variable names) for `fine_tune_epochs`,
    each lower block `layer_decay` times slower. `learning_rate` and
    `backbone_learning_rate_scale` left at null take the recipe of the task and mode
    (`pipelines/recipes.py`). `backbone_train_mode: inference` runs the backbone in
    inference mode even while its weights train (BatchNorm keeps its pretrained
    statistics, dropout inside the backbone, e.g. a transformer's, is off);
    `training` runs it in training mode whenever it trains. `divergence_guard`
    stops a phase whose training loss rose above its first epoch's, or whose
    predictions fell to one class, with a hint naming the setting to change.
    `warm_start` starts from the latest blessed model's weights (new classes get
    fresh classifier rows) instead of from the backbone alone.
    `validation_fraction` carves a deterministic validation subset out of the train
    split; early stopping (`early_stopping_patience` epochs without a better
    validation accuracy, 0 = off) watches it and restores the best weights.
    `lr_schedule` (constant | cosine decay per phase) after `warmup_epochs` of linear
    warmup, for every optimizer group. `augmentation` applies to training images
    only (in feature_extraction it turns the embedding cache off). `mixed_precision`
    trains in mixed bfloat16 on GPUs (float32 without one); `cpu_mixed_precision` does
    so on CPUs that compute bfloat16 natively (AVX512-BF16 or AMX; float32 on others):
    faster for transformer encoders, slower for EfficientNet-Lite0 (see the README). `torch_processes`: how
    many DistributedDataParallel processes the PyTorch trainer starts (None: one per
    visible GPU, 1 on CPU; never more than the visible GPUs when there are any).
    """

    mode: Literal["feature_extraction", "fine_tune", "incremental"] = "feature_extraction"
    epochs: int = Field(80, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: Optional[float] = Field(None, gt=0.0)
    hidden_units: tuple[int, ...] = ()
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    backbone_learning_rate_scale: Optional[float] = Field(None, gt=0.0, le=1.0)
    unfreeze_blocks: int = Field(1, ge=1)
    layer_decay: float = Field(0.5, gt=0.0, le=1.0)
    fine_tune_epochs: int = Field(10, ge=1)
    backbone_train_mode: Literal["inference", "training"] = "inference"
    divergence_guard: bool = True
    block_pattern: str = DEFAULT_BLOCK_PATTERN
    warm_start: bool = True
    seed: int = 42
    validation_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    early_stopping_patience: int = Field(0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0.0)
    augmentation: AugmentationConfig = AugmentationConfig()
    mixed_precision: bool = False
    cpu_mixed_precision: bool = False
    torch_processes: Optional[int] = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed_batchnorm(cls, values: Any) -> Any:
        if isinstance(values, dict) and "batchnorm" in values:
            raise ValueError(
                "batchnorm was renamed backbone_train_mode (it also switches dropout inside the backbone): "
                "use backbone_train_mode: inference (was frozen) or training (was train)"
            )
        return values

    @model_validator(mode="after")
    def _validation_for_early_stopping(self) -> "TrainingConfig":
        if self.early_stopping_patience > 0 and self.validation_fraction == 0:
            raise ValueError("early_stopping_patience needs validation_fraction > 0 (early stopping never watches the eval split)")
        return self

    @field_validator("block_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        if compiled.groups != 1:
            raise ValueError("needs exactly one capture group holding the block number")
        return value


class TaskThresholds(_Section):
    """One task's gate; a threshold left out is the evaluation section's."""

    min_accuracy: Optional[float] = Field(None, ge=0.0, le=1.0)
    max_accuracy_drop: Optional[float] = Field(None, ge=0.0, le=1.0)


class EvaluationConfig(_Section):
    """The gate a candidate must pass before it is pushed; `tasks.<label>` overrides it for one task."""

    min_accuracy: float = Field(0.8, ge=0.0, le=1.0)
    max_accuracy_drop: float = Field(0.0, ge=0.0, le=1.0)
    tasks: dict[str, TaskThresholds] = {}

    def min_accuracy_of(self, task: str) -> float:
        """The lowest accuracy `task` may have."""
        override = self.tasks.get(task)
        return self.min_accuracy if override is None or override.min_accuracy is None else override.min_accuracy

    def max_accuracy_drop_of(self, task: str) -> float:
        """How far `task`'s accuracy may fall below the baseline's."""
        override = self.tasks.get(task)
        return self.max_accuracy_drop if override is None or override.max_accuracy_drop is None else override.max_accuracy_drop


class PushConfig(_Section):
    """Where blessed models go: `<destination>/<model_name>/<version>/`; `model_name` defaults to the `pipeline_name`."""

    model_name: ResourceName = "digits"
    destination: Optional[Path] = None


class RunnerConfig(_Section):
    """Orchestration: runner, Beam options, caching, where artifacts and metadata live."""

    type: Literal["beam", "local"] = "beam"
    beam_args: tuple[str, ...] = ()  # Beam's defaults: the DirectRunner, in memory, one worker (see README: Scaling out Beam)
    enable_cache: bool = True
    pipeline_root: Optional[Path] = None
    metadata_path: Optional[Path] = None


class RetrainConfig(_Section):
    """A whole run. A `data.path` naming a file becomes its directory with a pattern; an unset `data.format` is inferred
    from the data files (`pipelines/data_format.py`)."""

    pipeline_name: ResourceName = "retrain-digits"
    task: TaskConfig = TaskConfig()
    data: DataConfig = DataConfig(example="digits")
    backbone: BackboneConfig = BackboneConfig()
    labels: LabelSettings = LabelSettings()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    push: PushConfig = PushConfig()
    runner: RunnerConfig = RunnerConfig()
    kubeflow: KubeflowSettings = KubeflowSettings()
    tuning: TuningConfig = TuningConfig()
    trainer: TrainerChoice = ORIGINAL.trainer_choice  # components/branches.py: one framework's branch, or all side by side

    @model_validator(mode="before")
    @classmethod
    def _model_name_from_pipeline_name(cls, values: Any) -> Any:
        """An unset `push.model_name` is the `pipeline_name` (both unset: the built-in example's `digits`)."""
        if not isinstance(values, dict) or not isinstance(values.get("pipeline_name"), str):
            return values
        push = values.get("push") or {}
        if not isinstance(push, dict) or push.get("model_name") is not None:
            return values
        return {**values, "push": {**push, "model_name": values["pipeline_name"]}}

    @model_validator(mode="before")
    @classmethod
    def _infer_data_format(cls, values: Any) -> Any:
        data = values.get("data") if isinstance(values, dict) else None
        if not isinstance(data, dict):
            return values
        data = one_file_as_directory(data)
        if data.get("format") is not None:
            return {**values, "data": data}
        task = values.get("task") if isinstance(values.get("task"), dict) else {}
        patterns = [data[key] for key in ("train_pattern", "eval_pattern", "pattern") if isinstance(data.get(key), str)]
        path = data.get("path") if isinstance(data.get("path"), str) else None
        inferred = infer_format(path, patterns, task.get("type", "image_classification"))
        return {**values, "data": {**data, "format": inferred}}

    def effective_rates(self) -> EffectiveRates:
        """The learning rates this run trains with: the config's, else the recipe of its task and mode."""
        training = self.training
        return effective_rates(self.task.type, training.mode, training.learning_rate, training.backbone_learning_rate_scale)

    @model_validator(mode="after")
    def _consistent(self) -> "RetrainConfig":
        named = self.backbone.name is not None
        branches = branches_for(self.trainer)
        for branch in branches:
            if self.data.example is None and not named and getattr(self.backbone, branch.backbone_field) is None:
                raise ValueError(branch.missing_backbone.format(trainer=self.trainer, names=" | ".join(backbone_names())))
        if named and backbone_spec(str(self.backbone.name)).kind != self.task.type.split("_")[0]:
            raise ValueError(
                f"backbone.name: {self.backbone.name} takes {backbone_spec(str(self.backbone.name)).kind} inputs, task.type is {self.task.type}"
            )
        if self.training.augmentation.enabled and not all(branch.supports_augmentation for branch in branches):
            readers = " / ".join(branch.display_name for branch in BRANCHES if branch.supports_augmentation)
            raise ValueError(f"trainer: {self.trainer}: training.augmentation is a {readers}-trainer feature only")
        if self.data.example == "digits" and self.task.type != "image_classification":
            raise ValueError("the built-in digits example is an image_classification task")
        if self.data.example == "emoji" and not named and self.backbone.handle is None:
            raise ValueError(f"the built-in emoji example needs a backbone: set backbone.name ({' | '.join(backbone_names())}) or backbone.handle")
        if self.data.example == "text" and self.task.type != "text_classification":
            raise ValueError("the built-in text example is a text_classification task: set task.type")
        if self.data.format == "csv" and self.task.type == "image_classification":
            raise ValueError("data.format csv carries text or tabular data, not images: use tfrecord or image_folders")
        if self.data.is_images and self.task.type != "image_classification":
            raise ValueError(f"data.format {self.data.format} holds images: task.type must be image_classification")
        if self.training.augmentation.enabled and self.task.type != "image_classification":
            raise ValueError("training.augmentation applies to image_classification only")
        if self.tuning.enabled and self.training.validation_fraction == 0:
            raise ValueError("tuning.enabled needs training.validation_fraction > 0: trials are compared on it, never on the eval split")
        if len(self.task.task_labels) > 1 and (self.data.is_images or self.data.example is not None):
            source = f"data.format {self.data.format}" if self.data.example is None else f"the built-in {self.data.example} example"
            raise ValueError(f"task.labels: {source} carries one label column; several tasks need tfrecord or csv data with one column per label")
        unknown = sorted(set(self.evaluation.tasks) - set(self.task.task_labels))
        if unknown:
            raise ValueError(f"evaluation.tasks: {unknown[0]!r} is not a task (task labels: {', '.join(self.task.task_labels)})")
        return self


def _format_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{location or 'config'}: {message}{suffix}"


def _resolve_paths(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Makes relative local paths absolute against `base_dir`."""
    resolved = {section: dict(values) if isinstance(values, dict) else values for section, values in raw.items()}
    for section, key in (
        ("data", "path"),
        ("data", "schema_file"),
        ("backbone", "torch_checkpoint"),
        ("push", "destination"),
        ("runner", "pipeline_root"),
        ("runner", "metadata_path"),
    ):
        values = resolved.get(section)
        if isinstance(values, dict) and isinstance(values.get(key), str):
            values[key] = str((base_dir / values[key]).resolve())
    data = resolved.get("data")
    if isinstance(data, dict) and isinstance(data.get("allowed_roots"), list):
        data["allowed_roots"] = [str((base_dir / root).resolve()) if isinstance(root, str) else root for root in data["allowed_roots"]]
    backbone = resolved.get("backbone")
    if isinstance(backbone, dict) and isinstance(backbone.get("handle"), str):
        handle = backbone["handle"]
        if not _is_url(handle):
            backbone["handle"] = str((base_dir / handle).resolve())
    return resolved


def config_from_dict(raw: dict[str, Any], base_dir: Optional[Path] = None) -> RetrainConfig:
    """Validates a config mapping; raises ConfigError with a one-line message."""
    if not isinstance(raw, dict):
        raise ConfigError("config: the top level must be a mapping of sections")
    try:
        config = RetrainConfig.model_validate(_resolve_paths(raw, base_dir or Path.cwd()))
    except ValidationError as error:
        raise ConfigError(_format_error(error)) from None
    return config


def load_config(path: Optional[Path]) -> RetrainConfig:
    """Loads and validates a YAML config file; None gives the built-in example."""
    if path is None:
        return RetrainConfig()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    return config_from_dict(raw, path.parent.resolve())


def config_to_yaml(config: RetrainConfig) -> str:
    """Renders a config (with every default filled in) as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
