"""Search strategies (components/tuning/strategy.py): selection, seeded proposals, hyperband's epoch savings, model-based proposals."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from retrain.components.tuning.space import TuningConfig, hyperband_first_round
from retrain.components.tuning.strategy import OracleStrategy, Proposal, RandomStrategy, build_strategy

BOUNDS = {"head_depth": (0, 2), "head_width": (8, 64), "dropout": (0.0, 0.4), "learning_rate": (1e-4, 1e-1), "unfreeze_blocks": (1, 3)}


def _score(values: dict[str, Any]) -> float:
    """A deterministic stand-in for validation accuracy: best near learning rate 0.01 and one hidden layer."""
    return 1.0 - abs(values["learning_rate"] - 0.01) - 0.1 * abs(values["head_depth"] - 1)


def _search(strategy: str, seed: int = 3, score: Callable[[dict[str, Any]], float] = _score, **fields: Any) -> list[Proposal]:
    search = build_strategy(TuningConfig.model_validate({**BOUNDS, "strategy": strategy, **fields}), "incremental", seed)
    proposals = []
    while (proposal := search.propose()) is not None:
        search.report(proposal, score(proposal.values))
        proposals.append(proposal)
    return proposals


def test_the_config_picks_the_strategy_and_refuses_unknown_ones_in_one_line() -> None:
    assert isinstance(build_strategy(TuningConfig(), "fine_tune", 0), RandomStrategy)
    assert isinstance(build_strategy(TuningConfig(strategy="hyperband"), "fine_tune", 0), OracleStrategy)
    with pytest.raises(ValueError, match="unknown strategy 'grid'; expected one of: random, hyperband, bayesian"):
        TuningConfig(strategy="grid")  # one line at config load: tests/test_tuning_space.py


def test_hyperband_spends_fewer_epochs_than_random_at_the_same_trial_budget() -> None:
    budget = {"max_trials": 13, "trial_epochs": 9}
    random, hyperband = _search("random", **budget), _search("hyperband", **budget)
    assert len(random) == len(hyperband) == 13
    assert sum(p.epochs for p in random) == 13 * 9
    # KerasTuner's HyperbandOracle (max_epochs 9, factor 3): 9 trials of 1 epoch, the best 3 for 3, the best one for 9
    assert [p.epochs for p in hyperband] == [1] * 9 + [3] * 3 + [9]
    assert hyperband[-1].values == max(hyperband[:9], key=lambda p: _score(p.values)).values
    assert hyperband == _search("hyperband", **budget), "proposals are a function of the seed and the scores"


def test_model_based_strategies_share_their_random_start_then_follow_the_scores() -> None:
    budget = {"max_trials": 4, "trial_epochs": 2}
    bayesian = _search("bayesian", **budget)
    assert [p.index for p in bayesian] == list(range(4)) and {p.epochs for p in bayesian} == {2}
    initial = 2  # random trials before the Gaussian process proposes: max(2, max_trials // 3)
    flipped = _search("bayesian", score=lambda values: -_score(values), **budget)
    assert [p.values for p in flipped[:initial]] == [p.values for p in bayesian[:initial]], "the seeded random start is the same"
    assert [p.values for p in flipped[initial:]] != [p.values for p in bayesian[initial:]], "later trials depend on the scores"
    other_seed = build_strategy(TuningConfig.model_validate({**BOUNDS, "strategy": "bayesian", **budget}), "incremental", 4).propose()
    assert other_seed is not None and other_seed.values != bayesian[0].values


@pytest.mark.parametrize("trial_epochs", [3, 9, 20, 50])
def test_hyperband_first_round_is_what_kerastuners_oracle_fills_before_promoting(trial_epochs: int) -> None:
    proposals = _search("hyperband", trial_epochs=trial_epochs, max_trials=100)
    first_round = next(index for index, proposal in enumerate(proposals) if proposal.epochs > proposals[0].epochs)  # first promotion
    assert hyperband_first_round(trial_epochs) == (first_round, proposals[0].epochs)


def test_a_space_of_one_point_is_tried_once_by_every_strategy() -> None:
    fixed = {name: (low, low) for name, (low, _) in BOUNDS.items()}
    for strategy in ("random", "bayesian"):
        assert len(_search(strategy, max_trials=5, **fixed)) == 1, strategy
