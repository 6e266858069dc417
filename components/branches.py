"""The framework branches of the pipeline, in one place: what each framework's branch is called and made of.

The pipeline, the run summary, the report, `retrain history` and the Kubeflow compiler read
this registry instead of spelling framework names or node ids themselves. It imports neither
TensorFlow nor PyTorch (nor TFX): the component classes are named, not imported.

Node ids, component class names and execution types are recorded in ML Metadata and feed
TFX's cache: changing one here orphans the history and the cache of every earlier run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

TENSORFLOW, PYTORCH = "tensorflow", "pytorch"  # framework names, as ML Metadata, the report and history spell them
FRAMEWORK_PROPERTY = "framework"  # a model's custom property naming its framework (unset: the original branch's)
ALL_BRANCHES = "both"  # the `trainer` choice that runs every branch side by side


@dataclass(frozen=True)
class Branch:
    """One framework's branch: Tuner -> trainer -> baseline resolver -> evaluator -> pusher (to `<model_name><serving_suffix>`).

    `original` marks the branch of the single-framework pipeline the others were added to: its
    models carry no framework property, alone its resolvers consider every model (as before the
    others existed), its evaluation columns keep their names in the report, and before any
    trainer ran (a run that failed early) its verdict stands for the run.
    """

    framework: str  # TENSORFLOW | PYTORCH
    display_name: str  # `TensorFlow`: the summary's and the report's words
    trainer_choice: str  # the config's `trainer` value that runs this branch alone
    trainer_id: str  # node ids (recorded in ML Metadata)
    tuner_id: str  # the search before the trainer (`tuning.enabled`)
    evaluator_id: str
    pusher_id: str
    baseline_resolver_id: str  # the evaluation baseline: the latest other blessed model of this framework
    warm_start_resolver_id: Optional[str]  # its own warm-start resolver when another branch's model seeds the label map
    trainer_type: str  # the trainer's ML Metadata execution type (its component class path)
    earlier_trainer_types: tuple[str, ...]  # the same in runs recorded before a move (before the `retrain` namespace)
    step_classes: tuple[str, ...]  # component class names of its tuner, trainer and evaluator (Kubernetes placement)
    trainer_class: str  # the class name that marks a trainer step (GPU placement)
    tuner_class: str  # the class name of its tuner (GPU placement: it trains `max_trials` models)
    own_image: bool  # its steps run `kubeflow.torch_image` instead of `kubeflow.image`
    serving_suffix: str  # pushed to `<push destination>/<model_name><suffix>/`
    backbone_setting: str  # the trainer setting naming its backbone (the report's lineage)
    backbone_field: str  # the config's `backbone` field of its own backbone (when no built-in `backbone.name` is set)
    missing_backbone: str  # the config error without one; {trainer}: the `trainer` choice, {names}: the built-in backbones
    own_settings: frozenset[str]  # trainer settings only this branch reads (the report hides them for the others)
    borrowed_settings: frozenset[tuple[str, str]]  # (task type, setting) of another branch's it reads too
    supports_augmentation: bool  # reads `training.augmentation`
    original: bool = False

    @property
    def title(self) -> str:
        """`TensorFlow model`: the heading of its verdict."""
        return f"{self.display_name} model"


BRANCHES: tuple[Branch, ...] = (
    Branch(
        framework=TENSORFLOW,
        display_name="TensorFlow",
        trainer_choice="tf",
        trainer_id="Trainer",
        tuner_id="Tuner",
        evaluator_id="Evaluator",
        pusher_id="VersionedPusher",
        baseline_resolver_id="baseline_model_resolver",
        warm_start_resolver_id=None,  # first in BRANCHES: its warm start is always the label map's model
        trainer_type="tfx.components.trainer.component.Trainer",
        earlier_trainer_types=(),
        step_classes=("Tuner", "Trainer", "Evaluator"),
        trainer_class="Trainer",
        tuner_class="Tuner",
        own_image=False,
        serving_suffix="",
        backbone_setting="tf_backbone_handle",
        backbone_field="handle",
        missing_backbone="data.path needs a backbone: set backbone.name ({names}) or backbone.handle (your own TF Hub module)",
        own_settings=frozenset({"tf_backbone_handle"}),
        borrowed_settings=frozenset(),
        supports_augmentation=True,
        original=True,
    ),
    Branch(
        framework=PYTORCH,
        display_name="PyTorch",
        trainer_choice="torch",
        trainer_id="TorchTrainer",
        tuner_id="TorchTuner",
        evaluator_id="TorchEvaluator",
        pusher_id="TorchPusher",
        baseline_resolver_id="torch_baseline_model_resolver",
        warm_start_resolver_id="torch_warm_start_resolver",
        trainer_type="retrain.components.torch_trainer.component.TorchTrainer",
        earlier_trainer_types=("components.torch_trainer.component.TorchTrainer",),
        step_classes=("TorchTuner", "TorchTrainer", "TorchEvaluator"),
        trainer_class="TorchTrainer",
        tuner_class="TorchTuner",
        own_image=True,
        serving_suffix="-torch",
        backbone_setting="torch_checkpoint",
        backbone_field="torch_checkpoint",
        missing_backbone="backbone.torch_checkpoint is required for trainer: {trainer} when data.path is given (or set backbone.name: {names})",
        own_settings=frozenset({"torch_checkpoint", "torch_processes"}),
        borrowed_settings=frozenset({("text_classification", "tf_backbone_handle")}),  # its text backbone truncates where the TF one does
        supports_augmentation=False,
    ),
)
ORIGINAL = next(branch for branch in BRANCHES if branch.original)
TRAINER_CHOICES: tuple[str, ...] = (*(branch.trainer_choice for branch in BRANCHES), ALL_BRANCHES)
TrainerChoice = Literal[TRAINER_CHOICES]  # the config's `trainer` field
BY_FRAMEWORK = {branch.framework: branch for branch in BRANCHES}


def branches_for(trainer: str) -> tuple[Branch, ...]:
    """The branches a `trainer` choice runs, in BRANCHES order (the original first)."""
    if trainer == ALL_BRANCHES:
        return BRANCHES
    for branch in BRANCHES:
        if branch.trainer_choice == trainer:
            return (branch,)
    raise ValueError(f"trainer: unknown choice {trainer!r}: use one of {', '.join(TRAINER_CHOICES)}")


def branch_of_node(node_id: Optional[str]) -> Optional[Branch]:
    """The branch whose trainer, evaluator or pusher has `node_id` (None for shared nodes)."""
    for branch in BRANCHES:
        if node_id in (branch.trainer_id, branch.evaluator_id, branch.pusher_id):
            return branch
    return None


def model_filter(enabled: tuple[Branch, ...], branch: Branch) -> Optional[str]:
    """The framework `branch`'s resolvers restrict models to; None (every model) when the original branch runs alone."""
    return None if enabled == (branch,) and branch.original else branch.framework
