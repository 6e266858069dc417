"""Pruning trials (components/tuning/pruning.py): Optuna's median rule, its config, and both tuners stopping trials with it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from retrain.components.tuning.pruning import MedianPruner, NoPruning, TrialPruned, build_pruner
from retrain.components.tuning.space import TuningConfig


def _trial(pruner: MedianPruner, curve: list[float]) -> int:
    """Runs one scripted trial through the pruner; returns the epochs it trained."""
    pruner.begin_trial()
    for epoch, accuracy in enumerate(curve):
        try:
            pruner.epoch_end(accuracy)
        except TrialPruned:
            pruner.end_trial(pruned=True)
            return epoch + 1
    pruner.end_trial(pruned=False)
    return len(curve)


def test_a_trial_stops_when_its_best_so_far_is_below_the_median_of_completed_trials_at_that_epoch() -> None:
    pruner = MedianPruner(startup_trials=2)
    assert _trial(pruner, [0.1, 0.2, 0.3]) == 3 and _trial(pruner, [0.1, 0.1, 0.1]) == 3, "no pruning before two trials completed"
    assert _trial(pruner, [0.5, 0.6, 0.9]) == 3  # medians per epoch now 0.1, 0.15, 0.2: above them all along
    # medians over the three completed trials: 0.1, 0.2, 0.3; this one's best is 0.15 at the second epoch
    assert _trial(pruner, [0.0, 0.15, 0.9]) == 2
    assert _trial(pruner, [0.0, 0.05, 0.9]) == 2, "the first epoch is never judged (warm-up), the second is"
    assert _trial(pruner, [0.05, 0.05, 0.05]) == 2 and pruner.stopped == 3, "stopped trials never join the medians"
    assert _trial(pruner, [0.3, 0.0, 0.0]) == 3, "the best so far counts, not the last epoch"


def test_without_pruning_every_trial_trains_in_full() -> None:
    pruner = build_pruner("none", max_trials=9)
    assert isinstance(pruner, NoPruning)
    assert [_trial(pruner, curve) for curve in ([0.9, 0.9], [0.1, 0.1], [0.0, 0.0])] == [2, 2, 2] and pruner.stopped == 0


def test_the_median_rule_waits_for_the_bayesian_searchs_random_start() -> None:
    pruner = build_pruner("median", max_trials=12)  # the Bayesian search draws 12 // 3 = 4 trials at random first
    good, bad = [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]
    assert [_trial(pruner, curve) for curve in (good, good, good, bad)] == [3, 3, 3, 3], "four trials complete before any is judged"
    assert _trial(pruner, bad) == 2 and pruner.stopped == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pruning": "asha"}, "unknown pruning 'asha'; expected one of: none, median"),
        ({"pruning": "median", "strategy": "hyperband"}, "pruning: hyperband already stops trials early (its rounds)"),
    ],
)
def test_pruning_settings_are_checked_in_one_line(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        TuningConfig.model_validate(fields)
