"""The hyperparameter search both trainers run: its space, trials, budget and scoring, framework-neutral.

No TensorFlow, no torch: the TF tuner (KerasTuner, `components/hub_tuner`) and the
PyTorch tuner (`components/torch_tuner`) draw the same trial list from the same seed
(`sample_trials`), train each trial with their own code for `trial_epochs` epochs per
phase, score it on validation accuracy over the subset carved from the train split
(`trial_score`; with several tasks their mean, `mean_over_tasks`) and pick the best the
same way (`best_trial`). With several tasks each task's head has its own depth
(`head_depth__<task>`); width, dropout, learning rate and unfrozen blocks stay shared. Which trials run is the
`strategy`'s (`components/tuning/strategy.py`). The best values travel
as a KerasTuner `HyperParameters.get_config()` mapping (`hyperparameters_config`),
which is what TFX's Tuner writes and its Trainer reads.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from retrain.components.training_core.tasks import task_feature

TUNING_KEY = "tuning"  # tuners' custom_config key holding the `tuning` section
HEAD_DEPTH = "head_depth"
HEAD_WIDTH = "head_width"
TUNED_SETTINGS = ("dropout", "learning_rate", "unfreeze_blocks")  # trainer settings tuned under their own names


STRATEGIES = ("random", "hyperband", "bayesian")
PRUNING = ("none", "median")  # components/tuning/pruning.py
HYPERBAND_FACTOR = 3


def random_initial_trials(max_trials: int) -> int:
    """How many trials the Bayesian search draws at random before its Gaussian process proposes (and the median pruner waits for)."""
    return max(2, max_trials // 3)


def hyperband_first_round(max_epochs: int, factor: int = HYPERBAND_FACTOR) -> tuple[int, int]:
    """(trials, epochs each) of the first round KerasTuner 1.3.5's HyperbandOracle fills before it promotes any trial.

    Upstream: keras_tuner/tuners/hyperband.py `_get_num_brackets`, `_get_size`, `_get_epochs`
    (the oracle starts with its most aggressive bracket, `num_brackets - 1`).
    """
    brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:
        epochs /= factor
        brackets += 1
    bracket = brackets - 1
    end_size = math.ceil(1 + math.log(max_epochs, factor)) / (bracket + 1)
    return math.ceil(end_size * factor**bracket), math.ceil(max_epochs / factor**bracket)


class TuningConfig(BaseModel):
    """A search before training (config section `tuning`, off by default), for either trainer.

    `strategy` picks the trials (`components/tuning/strategy.py`): `random` draws them from
    the seed, `hyperband` (KerasTuner's) trains many for few epochs and reruns the best
    for more, `bayesian` (KerasTuner's Gaussian-process search) proposes from the scores so
    far; `pruning: median` stops a trial whose validation accuracy falls below the median of
    earlier trials at the same epoch (`components/tuning/pruning.py`). Each of `max_trials` trials trains with the `training` settings for up to `trial_epochs` epochs per
    phase, with hyperparameters drawn from these [low, high] bounds: dense head
    layers (`head_depth`, each `head_width` units), `dropout`, `learning_rate`
    (log scale) and, in `incremental` mode, `unfreeze_blocks`; with several tasks a
    `head_depth` per task (same bounds). Trials are compared on validation accuracy
    (several tasks: their mean) over `training.validation_fraction` of the train split;
    the best hyperparameters feed the trainer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    strategy: str = "random"
    pruning: str = "none"
    max_trials: int = Field(6, ge=1)
    trial_epochs: int = Field(20, ge=1)
    head_depth: tuple[int, int] = (0, 2)
    head_width: tuple[int, int] = (32, 256)
    dropout: tuple[float, float] = (0.0, 0.5)
    learning_rate: tuple[float, float] = (1e-3, 3e-2)
    unfreeze_blocks: tuple[int, int] = (1, 3)

    @model_validator(mode="after")
    def _hyperband_can_promote(self) -> "TuningConfig":
        if not (self.enabled and self.strategy == "hyperband"):
            return self
        if self.trial_epochs < HYPERBAND_FACTOR:
            raise ValueError(f"hyperband needs trial_epochs >= {HYPERBAND_FACTOR} to promote any trial, got {self.trial_epochs}")
        trials, epochs = hyperband_first_round(self.trial_epochs)
        if self.max_trials <= trials:
            raise ValueError(
                f"max_trials {self.max_trials} ends inside hyperband's first round ({trials} trials of {epochs} epochs "
                f"at trial_epochs {self.trial_epochs}), so no trial would be promoted; set max_trials above {trials} or use strategy: random"
            )
        return self

    @field_validator("strategy", "pruning")
    @classmethod
    def _known_choice(cls, value: str, info: ValidationInfo) -> str:
        choices = {"strategy": STRATEGIES, "pruning": PRUNING}[str(info.field_name)]
        if value not in choices:
            raise ValueError(f"unknown {info.field_name} {value!r}; expected one of: {', '.join(choices)}")
        return value

    @model_validator(mode="after")
    def _hyperband_prunes_itself(self) -> "TuningConfig":
        if self.strategy == "hyperband" and self.pruning != "none":
            raise ValueError("pruning: hyperband already stops trials early (its rounds); use pruning: none, or strategy: random or bayesian")
        return self

    @field_validator("head_depth", "head_width", "dropout", "learning_rate", "unfreeze_blocks")
    @classmethod
    def _ordered_bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1] or value[0] < 0:
            raise ValueError(f"expected [low, high] with 0 <= low <= high, got [{value[0]}, {value[1]}]")
        return value

    @field_validator("head_width", "learning_rate", "unfreeze_blocks")
    @classmethod
    def _positive_bounds(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("bounds must be positive")
        return value

    @field_validator("dropout")
    @classmethod
    def _dropout_below_one(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[1] >= 1:
            raise ValueError("dropout must stay below 1")
        return value


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: integer or float values in [low, high], uniform or log-uniform."""

    name: str
    kind: Literal["int", "float"]
    low: float
    high: float
    log: bool = False

    def sample(self, rng: random.Random) -> Any:
        """One value drawn with `rng` (the bound itself when low == high)."""
        cast = int if self.kind == "int" else float
        if self.low == self.high:
            return cast(self.low)
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high) if self.kind == "float" else rng.randint(int(self.low), int(self.high))
        return min(max(cast(round(value) if self.kind == "int" else value), cast(self.low)), cast(self.high))


def task_head_depth(task: str) -> str:
    """The searched head depth of `task`'s head when several tasks share the backbone: `head_depth__<task>`."""
    return task_feature(HEAD_DEPTH, task)


def search_space(tuning: TuningConfig, mode: str, tasks: Sequence[str] = ()) -> tuple[Param, ...]:
    """The searched hyperparameters with the config's bounds; `unfreeze_blocks` only where the mode uses it.

    With several `tasks` (the task labels, main first) a head depth per task replaces `head_depth`;
    one task (or none named) searches exactly the single-head space.
    """
    names = [task_head_depth(task) for task in tasks] if len(tasks) > 1 else [HEAD_DEPTH]
    space = (
        *(Param(name, "int", *tuning.head_depth) for name in names),
        Param(HEAD_WIDTH, "int", *tuning.head_width, log=True),
        Param("dropout", "float", *tuning.dropout),
        Param("learning_rate", "float", *tuning.learning_rate, log=True),
    )
    return space + ((Param("unfreeze_blocks", "int", *tuning.unfreeze_blocks),) if mode == "incremental" else ())


def sample_trials(space: Sequence[Param], seed: int, count: int) -> list[dict[str, Any]]:
    """`count` trials (name -> value, in space order), drawn from one `random.Random(seed)`: the same list for every trainer."""
    rng = random.Random(seed)
    return [{param.name: param.sample(rng) for param in space} for _ in range(count)]


def hyperparameters_config(space: Sequence[Param], values: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """`space` (and chosen `values`) as KerasTuner 1.3.5's `HyperParameters.get_config()` writes it.

    The format of TFX's `best_hyperparameters.txt` (tfx/components/tuner/executor.py,
    `write_best_hyperparameters`, tfx 1.16); the TF tuner builds its KerasTuner space from it
    (`HyperParameters.from_config`). Defaults, and the values without `values`, are the lower bounds, as KerasTuner's.
    """
    defaults = {param.name: int(param.low) if param.kind == "int" else float(param.low) for param in space}
    entries = []
    for param in space:
        if param.low == param.high:
            value = int(param.low) if param.kind == "int" else float(param.low)
            entries.append({"class_name": "Fixed", "config": {"name": param.name, "conditions": [], "value": value}})
        elif param.kind == "int":
            config = {"name": param.name, "default": None, "conditions": [], "min_value": int(param.low), "max_value": int(param.high)}
            entries.append(
                {"class_name": "Int", "config": {**config, "step": None if param.log else 1, "sampling": "log" if param.log else "linear"}}
            )
        else:
            config = {
                "name": param.name,
                "default": float(param.low),
                "conditions": [],
                "min_value": float(param.low),
                "max_value": float(param.high),
            }
            entries.append({"class_name": "Float", "config": {**config, "step": None, "sampling": "log" if param.log else "linear"}})
    return {"space": entries, "values": dict(defaults if values is None else values)}


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: its index (trials are numbered as they start), values, score (validation accuracy),
    the epochs it trained (all phases) and whether `tuning.pruning` stopped it early."""

    index: int
    values: dict[str, Any]
    score: float
    epochs: int
    pruned: bool = False


def trial_score(validation_accuracies: Sequence[float], early_stopping: bool) -> float:
    """A trial's score from its last phase's per-epoch validation accuracy: the best epoch's with early stopping
    (its weights are the ones kept), else the last epoch's."""
    if not validation_accuracies:
        raise ValueError("a trial needs validation accuracy per epoch: tuning compares trials on the validation subset")
    return max(validation_accuracies) if early_stopping else validation_accuracies[-1]


def mean_over_tasks(task_accuracies: Mapping[str, Sequence[float]]) -> list[float]:
    """Each epoch's mean of the tasks' validation accuracies (what both trainers' early stopping watches with several
    tasks): the per-epoch accuracies `trial_score` takes for a multi-task trial."""
    lengths = {len(accuracies) for accuracies in task_accuracies.values()}
    if len(lengths) != 1:
        raise ValueError(f"every task needs a validation accuracy per epoch, got { ({task: len(a) for task, a in task_accuracies.items()}) }")
    return [sum(epoch) / len(epoch) for epoch in zip(*task_accuracies.values())]


def best_trial(results: Sequence[TrialResult]) -> TrialResult:
    """The highest score; among equal scores the earliest trial (KerasTuner's stable sort does the same)."""
    if not results:
        raise ValueError("no finished trials to choose from")
    return max(results, key=lambda result: (result.score, -result.index))


def tuner_results(results: Sequence[TrialResult], max_trials: int) -> list[dict[str, Any]]:
    """The trials best first as TFX's `tuner_results.json` records them: trial_id (zero-padded to the width of
    `max_trials`, as keras_tuner/engine/oracle.py `_generate_trial_id` pads), score and the values."""
    width = len(str(max_trials))
    ranked = sorted(results, key=lambda result: (-result.score, result.index))
    return [{"trial_id": f"{result.index:0{width}d}", "score": result.score, **result.values} for result in ranked]
