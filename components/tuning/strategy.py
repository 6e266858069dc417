"""Which trials a search runs, framework-neutral: propose a trial (values and epoch budget), report its score.

Both tuners drive one `SearchStrategy` (the TF tuner through KerasTuner's `Tuner`, the
PyTorch tuner in a loop): `propose` the next trial, train it for the proposal's
`epochs` per phase, `report` its validation score; `propose` returns None when the
`max_trials` budget (trials as KerasTuner counts them) is spent.

- `random`: the trials `sample_trials` draws from the seed, each for `trial_epochs`;
  the same list in both trainers (one trial when every bound is fixed, as the oracles stop).
- `hyperband`: KerasTuner 1.3.5's `HyperbandOracle` (`max_epochs=trial_epochs`, factor 3):
  brackets of random trials trained for few epochs, the best of each round rerun for
  `factor` times more. A promoted trial retrains from scratch (no checkpoint is
  carried over), so its epochs count in full.
- `bayesian`: KerasTuner 1.3.5's `BayesianOptimizationOracle` (Gaussian process over the
  scores so far, after `max(2, max_trials // 3)` random trials), each for `trial_epochs`.

For hyperband and bayesian the oracle's random draws come from the seed, so both trainers are
offered the same first trials (hyperband: the first bracket's first round; bayesian:
its random trials); later trials depend on each framework's own scores and may differ.
KerasTuner's oracles import TensorFlow (~12 s on a 2-core machine); `random` imports nothing.
"""

from __future__ import annotations

import abc
import tempfile
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from retrain.components.tuning.space import (
    HYPERBAND_FACTOR,
    Param,
    TuningConfig,
    hyperparameters_config,
    random_initial_trials,
    sample_trials,
    search_space,
)

TRIAL_EPOCHS = "tuner/epochs"  # KerasTuner's Hyperband key for a trial's epochs (tuners/hyperband.py, keras-tuner 1.3.5)
_OBJECTIVE = "val_accuracy"


@dataclass(frozen=True)
class Proposal:
    """A trial to run: its number (trials are numbered 0, 1, ... as proposed), values (the space's names) and epochs per phase."""

    index: int
    values: dict[str, Any]
    epochs: int


class SearchStrategy(abc.ABC):
    """Proposes trials one at a time and learns from each one's score."""

    @abc.abstractmethod
    def propose(self) -> Optional[Proposal]:
        """The next trial, or None when the search is over."""

    @abc.abstractmethod
    def report(self, proposal: Proposal, score: float) -> None:
        """The finished trial's score (higher is better)."""


class RandomStrategy(SearchStrategy):
    """The `sample_trials` list in order, each for `trial_epochs`; scores change nothing."""

    def __init__(self, space: Sequence[Param], seed: int, max_trials: int, trial_epochs: int) -> None:
        single_point = all(param.low == param.high for param in space)  # every trial would be the same one
        self._trials = sample_trials(space, seed, 1 if single_point else max_trials)
        self._epochs = trial_epochs
        self._next = 0

    def propose(self) -> Optional[Proposal]:
        if self._next == len(self._trials):
            return None
        self._next += 1
        return Proposal(self._next - 1, dict(self._trials[self._next - 1]), self._epochs)

    def report(self, proposal: Proposal, score: float) -> None:
        """Random search ignores scores."""


class OracleStrategy(SearchStrategy):
    """A KerasTuner oracle (which needs no model, only values and scores) behind the neutral interface."""

    def __init__(self, oracle: Any, space: Sequence[Param], trial_epochs: int) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="retrain-search-")  # the oracle's bookkeeping files
        oracle._set_project_dir(self._directory.name, "oracle")  # noqa: SLF001 (as KerasTuner's BaseTuner does; no public setter in 1.3.5)
        self._oracle, self._names, self._epochs = oracle, [param.name for param in space], trial_epochs
        self._trials: dict[int, Any] = {}  # proposal index -> the oracle's Trial

    def propose(self) -> Optional[Proposal]:
        trial = self._oracle.create_trial("retrain")
        if trial.status != "RUNNING":  # STOPPED: budget spent or space exhausted
            return None
        values = trial.hyperparameters.values
        proposal = Proposal(len(self._trials), {name: values[name] for name in self._names}, int(values.get(TRIAL_EPOCHS, self._epochs)))
        self._trials[proposal.index] = trial
        return proposal

    def report(self, proposal: Proposal, score: float) -> None:
        trial = self._trials[proposal.index]
        self._oracle.update_trial(trial.trial_id, {_OBJECTIVE: score})
        trial.status = "COMPLETED"
        self._oracle.end_trial(trial)


def _oracle(tuning: TuningConfig, space: Sequence[Param], seed: int) -> Any:
    import keras_tuner

    objective = keras_tuner.Objective(_OBJECTIVE, direction="max")
    hyperparameters = keras_tuner.HyperParameters.from_config(hyperparameters_config(space))
    common = {"objective": objective, "hyperparameters": hyperparameters, "seed": seed, "allow_new_entries": False, "tune_new_entries": False}
    if tuning.strategy == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(max_epochs=tuning.trial_epochs, factor=HYPERBAND_FACTOR, hyperband_iterations=None, **common)
        oracle.max_trials = tuning.max_trials  # Hyperband counts no trials itself; Oracle.create_trial stops at max_trials
        return oracle
    return keras_tuner.oracles.BayesianOptimizationOracle(
        max_trials=tuning.max_trials, num_initial_points=random_initial_trials(tuning.max_trials), **common
    )


def build_strategy(tuning: TuningConfig, mode: str, seed: int, tasks: Sequence[str] = ()) -> SearchStrategy:
    """The `tuning.strategy` search over `search_space(tuning, mode, tasks)`, its random draws from `seed`."""
    space = search_space(tuning, mode, tasks)
    if tuning.strategy == "random":
        return RandomStrategy(space, seed, tuning.max_trials, tuning.trial_epochs)
    return OracleStrategy(_oracle(tuning, space, seed), space, tuning.trial_epochs)
