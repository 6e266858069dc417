"""TFX Tuner entry point (`tuner_fn`): KerasTuner search over the transfer model's head and training.

The trials are those the framework-neutral `tuning.strategy` (`retrain.components.tuning.strategy`)
proposes from the seed, as the PyTorch tuner's are; `StrategyOracle` hands them to KerasTuner.
Each trial builds the classifier with its hyperparameters and trains it with the
trainer's own `train_classifier` (same modes, cached embeddings, phases), and is
scored on validation accuracy over the validation subset carved from the train
split; the eval split that the Evaluator gates on is never read. With several tasks a
trial is the trainer's multi-task model (one head per task, each of its own searched
depth) and scores the tasks' mean validation accuracy.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from retrain.components.hub_trainer import model as model_lib
from retrain.components.hub_trainer.model import task_logits_layer
from retrain.components.hub_trainer.task_data import transformed_task_dataset
from retrain.components.hub_trainer.trainer_module import transformed_dataset
from retrain.components.hub_trainer.training import EARLY_STOPPING_METRIC, train_classifier
from retrain.components.label_prep.label_map import LabelMap
from retrain.components.label_prep.task_maps import load_task_label_maps
from retrain.components.trainer_settings import TrainerSettings, tuner_settings_from
from retrain.components.training_core.plan import TrainingPlan
from retrain.components.training_core.tasks import TaskHead, task_heads
from retrain.components.tuning import space as tuning_space
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.components.tuning.pruning import MedianPruner, NoPruning, TrialPruned, build_pruner
from retrain.components.tuning.space import TuningConfig
from retrain.components.tuning.strategy import TRIAL_EPOCHS, Proposal, SearchStrategy, build_strategy

OBJECTIVE = keras_tuner.Objective(EARLY_STOPPING_METRIC, direction="max")


def search_space(tuning: TuningConfig, mode: str, tasks: Sequence[str] = ()) -> keras_tuner.HyperParameters:
    """The neutral search space (`retrain.components.tuning.space.search_space`) as KerasTuner hyperparameters."""
    return keras_tuner.HyperParameters.from_config(tuning_space.hyperparameters_config(tuning_space.search_space(tuning, mode, tasks)))


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
    """Shows each epoch's validation accuracy (several tasks: the mean of `metrics`) to the pruner, which may stop the
    trial, and keeps the running phase's."""

    def __init__(self, pruner: MedianPruner, metrics: Sequence[str]) -> None:
        super().__init__()
        self.pruner, self._metrics = pruner, list(metrics)
        self.phase_scores: list[float] = []

    def on_train_begin(self, logs: Optional[dict[str, float]] = None) -> None:
        self.phase_scores = []  # `train_classifier` fits once per phase

    def on_epoch_end(self, epoch: int, logs: Optional[dict[str, float]] = None) -> None:
        logs = logs or {}
        [score] = tuning_space.mean_over_tasks({metric: [float(logs[metric])] for metric in self._metrics})
        self.phase_scores.append(score)
        self.pruner.epoch_end(score)


class TransferHyperModel(keras_tuner.HyperModel):
    """Builds and trains one trial's classifier (several tasks: the trainer's multi-task model) from the trainer settings,
    each task's label map and the drawn hyperparameters."""

    def __init__(self, settings: TrainerSettings, label_maps: Mapping[str, LabelMap], pruner: Optional[MedianPruner] = None) -> None:
        super().__init__(name="transfer_classifier")
        self._settings = settings.updated(divergence_guard=False)  # a diverging trial scores low instead of stopping the search
        self._label_maps = dict(label_maps)
        self.pruner = pruner or NoPruning()  # `tuning.pruning`'s rule, shared by every trial of the search

    def _trial(self, hp: keras_tuner.HyperParameters) -> tuple[TrainerSettings, tuple[TaskHead, ...]]:
        """The trial's settings and, with several tasks, its heads (each of its tuned depth), as run_fn derives them."""
        settings = apply_hyperparameters(self._settings, hp.values)
        if not settings.multitask:
            return settings, ()
        return settings, task_heads(settings.task_labels, settings.loss_weights, self._label_maps, settings.task_hidden_units)

    def build(self, hp: keras_tuner.HyperParameters) -> tf.keras.Model:
        settings, tasks = self._trial(hp)
        if tasks:
            return model_lib.build_multitask_classifier_from_settings(settings, tasks)
        return model_lib.build_classifier_from_settings(settings, len(self._label_maps[settings.label_feature].labels))

    def fit(self, hp: keras_tuner.HyperParameters, model: tf.keras.Model, x: Any, callbacks: Any = (), **_: Any) -> dict[str, float]:
        """Trains with `train_classifier` (`tuning.pruning` may stop it after an epoch); the score is the validation accuracy
        (several tasks: their mean) of the weights it ends with, over the last phase it reached."""
        epochs = int(hp.values[TRIAL_EPOCHS])  # the strategy's epochs per phase for this trial
        settings, tasks = self._trial(hp)
        main = self._label_maps[settings.label_feature]
        plan = TrainingPlan.from_settings(settings.updated(epochs=epochs, fine_tune_epochs=epochs), main.label_smoothing, tasks)
        class_weight = None if tasks else dict(enumerate(main.class_weights))  # several tasks: in each task's loss
        pruning = PruningCallback(self.pruner, [f"val_{task_logits_layer(task.name)}_accuracy" for task in tasks] or [EARLY_STOPPING_METRIC])
        self.pruner.begin_trial()
        try:
            train_classifier(model, x, plan, class_weight=class_weight, callbacks=[*(callbacks or []), pruning], verbose=0)
            self.pruner.end_trial(pruned=False)
        except TrialPruned:
            self.pruner.end_trial(pruned=True)
        return {EARLY_STOPPING_METRIC: tuning_space.trial_score(pruning.phase_scores, plan.early_stopping_patience > 0)}


def strategy_oracle(settings: TrainerSettings, tuning: TuningConfig) -> StrategyOracle:
    """The oracle of the TF search: `tuning.strategy` seeded with `settings.seed`, in the KerasTuner space (a head depth per task
    with several tasks)."""
    strategy = build_strategy(tuning, settings.mode, settings.seed, settings.task_labels)
    return StrategyOracle(strategy, tuning.max_trials, search_space(tuning, settings.mode, settings.task_labels), settings.seed)


def build_tuner(settings: TrainerSettings, tuning: TuningConfig, label_maps: Mapping[str, LabelMap], directory: str) -> keras_tuner.Tuner:
    """A KerasTuner tuner running `strategy_oracle`'s trials, each trained by `TransferHyperModel`."""
    return keras_tuner.Tuner(
        oracle=strategy_oracle(settings, tuning),
        hypermodel=TransferHyperModel(settings, label_maps, build_pruner(tuning.pruning, tuning.max_trials)),
        directory=directory,
        project_name="hub_trainer",
        overwrite=True,
    )


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """The TFX Tuner's entry point: a tuner over the transformed train split and its `search` arguments."""
    settings, tuning = tuner_settings_from(fn_args.custom_config)
    tf.keras.utils.set_random_seed(settings.seed)
    # TFX's Tuner sets only `transform_graph_path` (tfx/components/trainer/fn_args_utils.py, get_common_fn_args, tfx 1.16);
    # `transform_output` is the Trainer's alias of it.
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    label_maps = load_task_label_maps(fn_args.transform_graph_path, settings.task_labels)
    files, accessor, batch_size, seed = fn_args.train_files, fn_args.data_accessor, settings.batch_size, settings.seed
    if settings.multitask:  # the data only needs each task's classes: the heads' depths vary by trial
        tasks = task_heads(settings.task_labels, settings.loss_weights, label_maps)
        train = transformed_task_dataset(files, accessor, tft_output, batch_size, tasks, shuffle_seed=seed)
    else:
        train = transformed_dataset(files, accessor, tft_output, batch_size, len(label_maps[settings.label_feature].labels), shuffle_seed=seed)
    tuner = build_tuner(settings, tuning, label_maps, fn_args.working_dir)
    return TunerFnResult(tuner=tuner, fit_kwargs={"x": train})
