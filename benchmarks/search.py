"""Search strategies compared at the same trial budget: best validation accuracy found and epochs spent (CPU).

The PyTorch tuner's search (`components/torch_tuner/search.py`, fast on CPU) runs each
strategy of `components/tuning/strategy.py` (and Bayesian search with median pruning,
`components/tuning/pruning.py`) on the built-in example's target digits
(5-9; TRAIN_PER_CLASS images per class, a validation subset carved from them) with its
pretrained backbone, `incremental` mode (so the unfrozen blocks are searched too), for
the same `max_trials` and `trial_epochs`, once per seed in SEEDS (the seed drives the
strategy's draws and the training). `search_efficiency` = mean over seeds of the best
trial's validation accuracy with SMARTER / the same with `random` (goal >= 1.0), and
`search_efficiency_epochs` = SMARTER's epochs / random's (goal <= 0.95: fewer); every strategy's
accuracies and epochs go to stderr.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.result import Result
from benchmarks.settings import benchmark_settings

SEEDS = (0, 1, 2)
STRATEGIES = {  # label -> the `tuning` fields it sets
    "random": {"strategy": "random"},
    "hyperband": {"strategy": "hyperband"},
    "bayesian": {"strategy": "bayesian"},
    "bayesian+median": {"strategy": "bayesian", "pruning": "median"},
}
SMARTER = "bayesian+median"  # model-based proposals, and hopeless trials stopped early: fewer epochs at the same trial budget
TRAIN_PER_CLASS = 30
VALIDATION_FRACTION = 0.3


@dataclass(frozen=True)
class StrategyRun:
    """One strategy over SEEDS: each seed's best validation accuracy and epochs trained (all trials, all phases)."""

    best: tuple[float, ...]
    epochs: tuple[int, ...]

    @property
    def mean_best(self) -> float:
        return sum(self.best) / len(self.best)


def _budget(quick: bool) -> dict[str, int]:
    # Hyperband (factor 3) fills one bracket exactly: 9 x 1, 3 x 3, 1 x 9 epochs (quick: 3 x 1, 1 x 3).
    return {"max_trials": 4, "trial_epochs": 3} if quick else {"max_trials": 13, "trial_epochs": 9}


@functools.lru_cache(maxsize=2)
def measure(quick: bool) -> dict[str, StrategyRun]:
    """Each strategy's StrategyRun on the same data, backbone and budget."""
    import retrain.pipelines  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
    import torch

    from retrain.components.digits_example import data as digits
    from retrain.components.digits_example.prepare import write_pretrained_backbone
    from retrain.components.torch_trainer.data import carve_validation
    from retrain.components.torch_tuner.search import run_trials
    from retrain.components.tuning.space import TuningConfig, best_trial

    target = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS)
    train_images, _ = digits.few_shot_split(target, 12 if quick else TRAIN_PER_CLASS, seed=0)
    labels = torch.tensor([digits.TARGET_DIGITS.index(int(label)) for label in train_images.labels])
    train, validation = carve_validation((torch.from_numpy(train_images.images), labels), VALIDATION_FRACTION, seed=0)
    runs = {}
    with tempfile.TemporaryDirectory() as workdir:
        checkpoint = Path(workdir) / "backbone.pt"
        write_pretrained_backbone(Path(workdir) / "hub", checkpoint)
        for strategy, fields in STRATEGIES.items():
            tuning = TuningConfig(enabled=True, **fields, **_budget(quick))
            best, epochs = [], []
            for seed in SEEDS:
                settings = benchmark_settings(
                    torch_checkpoint=str(checkpoint), mode="incremental", validation_fraction=VALIDATION_FRACTION, batch_size=16, seed=seed
                )
                results = run_trials(settings, tuning, train, validation, len(digits.TARGET_DIGITS), None, 0.0)
                best.append(best_trial(results).score)
                epochs.append(sum(result.epochs for result in results))
            runs[strategy] = StrategyRun(tuple(best), tuple(epochs))
    budget = _budget(quick)
    print(
        f"  incremental, {budget['max_trials']} trials of up to {budget['trial_epochs']} epochs per phase, "
        f"{len(train[1])} train / {len(validation[1])} validation images, seeds {SEEDS}:",
        file=sys.stderr,
    )
    for strategy, run in runs.items():
        accuracies = ", ".join(f"{accuracy:.4f}" for accuracy in run.best)
        versus = runs["random"]
        print(
            f"    {strategy}: mean best validation accuracy {run.mean_best:.4f} ({accuracies}); epochs spent {sum(run.epochs)} {run.epochs}; "
            f"vs random: accuracy x{run.mean_best / versus.mean_best:.3f}, epochs x{sum(run.epochs) / sum(versus.epochs):.3f}",
            file=sys.stderr,
        )
    return runs


def search_efficiency(quick: bool) -> dict[str, Result]:
    """Mean best validation accuracy with SMARTER / with random search at the same trial budget (goal >= 1.0), and the
    epochs SMARTER spent / random's (goal <= 0.95: fewer)."""
    runs = measure(quick)
    smarter, random = runs[SMARTER], runs["random"]
    return {
        "search_efficiency": Result(ratio=smarter.mean_best / random.mean_best, goal=1.0, lower_is_better=False),
        "search_efficiency_epochs": Result(ratio=sum(smarter.epochs) / sum(random.epochs), goal=0.95, lower_is_better=True),
    }
