"""TFX Tuner entry point (`tuner_fn`): KerasTuner search over the transfer model's head and training.

The trials are those the framework-neutral `tuning.strategy` (`retrain.components.tuning.strategy`)
proposes from the seed, as the PyTorch tuner's are; `StrategyOracle` hands them to KerasTuner.
Each trial builds the classifier with its hyperparameters and trains it with the
trainer's own `train_classifier` (same modes, cached embeddings, phases), and is
scored on validation accuracy over the validation subset carved from the train
split; the eval split that the Evaluator gates on is never read.
"""

from __future__ import annotations

from typing import Any, Optional

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from retrain.components.hub_trainer import model as model_lib
from retrain.components.hub_trainer.trainer_module import transformed_dataset
from retrain.components.hub_trainer.training import EARLY_STOPPING_METRIC, train_classifier
from retrain.components.label_prep.label_map import load_label_map
from retrain.components.trainer_settings import TrainerSettings, tuner_settings_from
from retrain.components.training_core.plan import TrainingPlan
from retrain.components.tuning import space as tuning_space
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.components.tuning.pruning import MedianPruner, NoPruning, TrialPruned, build_pruner
from retrain.components.tuning.space import TuningConfig
from retrain.components.tuning.strategy import TRIAL_EPOCHS, Proposal, SearchStrategy, build_strategy

OBJECTIVE = keras_tuner.Objective(EARLY_STOPPING_METRIC, direction="max")


def search_space(tuning: TuningConfig, mode: str) -> keras_tuner.HyperParameters:
    """The neutral search space (`retrain.components.tuning.space.search_space`) as KerasTuner hyperparameters."""
    return keras_tuner.HyperParameters.from_config(tuning_space.hyperparameters_config(tuning_space.search_space(tuning, mode)))


class StrategyOracle(keras_tuner.Oracle):
    """KerasTuner's side of a `SearchStrategy`: its proposals become trials (epochs under `tuner/epochs`), their scores go back to it."""

    def __init__(self, strategy: SearchStrategy, max_trials: int, hyperparameters: keras_tuner.HyperParameters, seed: int) -> None:
        super().__init__(
            objective=OBJECTIVE, max_trials=max_trials, hyperparameters=hyperparameters, seed=seed, allow_new_entries=False, tune_new_entries=False
        )
        self._strategy = strategy
        self._proposals: dict[str, Proposal] = {}

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The strategy's next trial (it numbers trials as `create_trial` does), or STOPPED when it has none."""
        proposal = self._strategy.propose()
        if proposal is None:
            return {"status": "STOPPED"}
        self._proposals[trial_id] = proposal
        return {"status": "RUNNING", "values": {**proposal.values, TRIAL_EPOCHS: proposal.epochs}}

    def end_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        """Ends the trial as KerasTuner does, then reports its score to the strategy (a failed trial scores 0)."""
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        self._strategy.report(self._proposals[trial.trial_id], ended.score if ended.status == "COMPLETED" else 0.0)


class PruningCallback(tf.keras.callbacks.Callback):
    """Shows each epoch's validation accuracy to the pruner (which may stop the trial) and keeps the running phase's."""

    def __init__(self, pruner: MedianPruner) -> None:
        super().__init__()
        self.pruner = pruner
        self.phase_scores: list[float] = []

    def on_train_begin(self, logs: Optional[dict[str, float]] = None) -> None:
        self.phase_scores = []  # `train_classifier` fits once per phase

    def on_epoch_end(self, epoch: int, logs: Optional[dict[str, float]] = None) -> None:
        score = float((logs or {})[EARLY_STOPPING_METRIC])
        self.phase_scores.append(score)
        self.pruner.epoch_end(score)


class TransferHyperModel(keras_tuner.HyperModel):
    """Builds and trains one trial's classifier from the trainer settings and the drawn hyperparameters."""

    def __init__(
        self,
        settings: TrainerSettings,
        num_classes: int,
        label_smoothing: float,
        class_weight: Optional[dict[int, float]],
        pruner: Optional[MedianPruner] = None,
    ) -> None:
        super().__init__(name="transfer_classifier")
        self._settings = settings.updated(divergence_guard=False)  # a diverging trial scores low instead of stopping the search
        self._num_classes, self._label_smoothing, self._class_weight = num_classes, label_smoothing, class_weight
        self.pruner = pruner or NoPruning()  # `tuning.pruning`'s rule, shared by every trial of the search

    def _trial_settings(self, hp: keras_tuner.HyperParameters) -> TrainerSettings:
        return apply_hyperparameters(self._settings, hp.values)

    def build(self, hp: keras_tuner.HyperParameters) -> tf.keras.Model:
        return model_lib.build_classifier_from_settings(self._trial_settings(hp), self._num_classes)

    def fit(self, hp: keras_tuner.HyperParameters, model: tf.keras.Model, x: Any, callbacks: Any = (), **_: Any) -> dict[str, float]:
        """Trains with `train_classifier` (`tuning.pruning` may stop it after an epoch); the score is the validation accuracy
        of the weights it ends with, over the last phase it reached."""
        epochs = int(hp.values[TRIAL_EPOCHS])  # the strategy's epochs per phase for this trial
        plan = TrainingPlan.from_settings(self._trial_settings(hp).updated(epochs=epochs, fine_tune_epochs=epochs), self._label_smoothing)
        pruning = PruningCallback(self.pruner)
        self.pruner.begin_trial()
        try:
            train_classifier(model, x, plan, class_weight=self._class_weight, callbacks=[*(callbacks or []), pruning], verbose=0)
            self.pruner.end_trial(pruned=False)
        except TrialPruned:
            self.pruner.end_trial(pruned=True)
        return {EARLY_STOPPING_METRIC: tuning_space.trial_score(pruning.phase_scores, plan.early_stopping_patience > 0)}


def strategy_oracle(settings: TrainerSettings, tuning: TuningConfig) -> StrategyOracle:
    """The oracle of the TF search: `tuning.strategy` seeded with `settings.seed`, in the KerasTuner space."""
    strategy = build_strategy(tuning, settings.mode, settings.seed)
    return StrategyOracle(strategy, tuning.max_trials, search_space(tuning, settings.mode), settings.seed)


def build_tuner(
    settings: TrainerSettings,
    tuning: TuningConfig,
    num_classes: int,
    label_smoothing: float,
    class_weight: Optional[dict[int, float]],
    directory: str,
) -> keras_tuner.Tuner:
    """A KerasTuner tuner running `strategy_oracle`'s trials, each trained by `TransferHyperModel`."""
    return keras_tuner.Tuner(
        oracle=strategy_oracle(settings, tuning),
        hypermodel=TransferHyperModel(settings, num_classes, label_smoothing, class_weight, build_pruner(tuning.pruning, tuning.max_trials)),
        directory=directory,
        project_name="hub_trainer",
        overwrite=True,
    )


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    """The TFX Tuner's entry point: a tuner over the transformed train split and its `search` arguments."""
    settings, tuning = tuner_settings_from(fn_args.custom_config)
    tf.keras.utils.set_random_seed(settings.seed)
    # TFX's Tuner sets only `transform_graph_path` (tfx/components/trainer/fn_args_utils.py, get_common_fn_args, tfx 1.16);
    # `transform_output` is the Trainer's alias of it.
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    label_map = load_label_map(fn_args.transform_graph_path)
    num_classes = len(label_map.labels)
    train = transformed_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, settings.batch_size, num_classes, shuffle_seed=settings.seed)
    tuner = build_tuner(settings, tuning, num_classes, label_map.label_smoothing, dict(enumerate(label_map.class_weights)), fn_args.working_dir)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={"x": train})
