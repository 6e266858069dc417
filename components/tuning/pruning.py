"""Stopping hopeless trials early, framework-neutral: Optuna's median rule for either tuner.

`tuning.pruning: median` (with `random` or `bayesian`; Hyperband stops trials itself) stops a
trial at the end of an epoch when the best validation accuracy it has reached so far is below
the median of the completed trials' validation accuracy at that same epoch, as Optuna's
`MedianPruner` does (optuna/pruners/_median.py, `PercentilePruner` at the 50th percentile).
No trial is stopped before `startup_trials` trials completed (the Bayesian oracle's random
initial points) nor in its first `warmup_epochs` epochs. Epochs count across a trial's
phases (incremental: the head phase, then the fine-tune phase). A stopped trial keeps the
score of what it reached, so it still informs the strategy; only completed trials set medians.
"""

from __future__ import annotations

import statistics

from retrain.components.tuning.space import random_initial_trials


class TrialPruned(Exception):
    """Raised at an epoch's end to stop the running trial."""


class MedianPruner:
    """Decides after each epoch of the running trial whether to stop it (`epoch_end` raises TrialPruned)."""

    def __init__(self, startup_trials: int, warmup_epochs: int = 1) -> None:
        self._startup_trials, self._warmup_epochs = startup_trials, warmup_epochs
        self._completed: list[list[float]] = []  # each completed trial's validation accuracy per epoch
        self._running: list[float] = []
        self.stopped = 0  # trials stopped early so far

    @property
    def completed_curves(self) -> list[list[float]]:
        """Each completed trial's validation accuracy per epoch, in trial order."""
        return [list(curve) for curve in self._completed]

    def begin_trial(self) -> None:
        self._running = []

    def epoch_end(self, validation_accuracy: float) -> None:
        """Records the running trial's epoch; raises TrialPruned when its best so far is below the median at this epoch."""
        self._running.append(validation_accuracy)
        epoch = len(self._running) - 1
        if epoch < self._warmup_epochs or len(self._completed) < self._startup_trials:
            return
        others = [curve[epoch] for curve in self._completed if len(curve) > epoch]
        if others and max(self._running) < statistics.median(others):
            raise TrialPruned(
                f"validation accuracy {max(self._running):.4f} after {epoch + 1} epochs is below the median {statistics.median(others):.4f}"
            )

    def end_trial(self, pruned: bool) -> None:
        """Closes the running trial; a completed one's curve joins the medians."""
        if pruned:
            self.stopped += 1
        else:
            self._completed.append(self._running)


class NoPruning(MedianPruner):
    """Every trial trains in full."""

    def __init__(self) -> None:
        super().__init__(startup_trials=0)

    def epoch_end(self, validation_accuracy: float) -> None:
        self._running.append(validation_accuracy)


def build_pruner(pruning: str, max_trials: int) -> MedianPruner:
    """The `tuning.pruning` rule; the median rule waits for as many completed trials as the Bayesian oracle draws at random first."""
    return MedianPruner(startup_trials=random_initial_trials(max_trials)) if pruning == "median" else NoPruning()
