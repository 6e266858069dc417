"""The TF trainer's training loop: the core's plan and phases (components/training_core/plan.py) run as Keras `fit` calls.

Each phase trains the head and the blocks its `unfreeze_blocks` names, per-group
learning rates from the core's `training_groups`. Around the phases: feature_extraction
trains the head on embeddings computed in one backbone pass (`embeddings.py`) unless
augmentation is on (augmented images need the backbone every step, so the cache is
turned off); early stopping and the validation curve use a subset carved from train
(`validation.py`), never the eval split; warmup + cosine decay per optimizer group
(`schedule.py`); random image augmentation inside training steps only
(`augmentation.py`); per-epoch checkpoints that a re-run resumes from
(`checkpoints.py`); the divergence guard stopping a phase whose loss rose or whose
predictions collapsed (`guard_callback.py`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from typing import Any, Callable, Mapping, Optional, Sequence

import tensorflow as tf

from retrain.components.hub_trainer.augmentation import augment_images
from retrain.components.hub_trainer.autograph import skip_library_conversion
from retrain.components.hub_trainer.checkpoints import EpochCheckpoint, completed_epochs, restore
from retrain.components.hub_trainer.devices import cpu_graph_rewrites, cpu_mixed_bfloat16, visible_gpus
from retrain.components.hub_trainer.embeddings import embed, head_model
from retrain.components.hub_trainer.features import model_input
from retrain.components.hub_trainer.finetune import GroupedTrainingModel
from retrain.components.hub_trainer.guard_callback import DivergenceCallback, MeanTaskAccuracy
from retrain.components.hub_trainer.keras_progress import EpochProgress
from retrain.components.hub_trainer.model import BACKBONE_LAYER, compile_classifier, compile_multitask_classifier, task_logits_layer
from retrain.components.hub_trainer.schedule import LearningRateSchedule
from retrain.components.hub_trainer.validation import RequireValidationSubset, split_validation
from retrain.components.training_core.blocks import backbone_blocks
from retrain.components.training_core.features import MODEL_INPUT
from retrain.components.training_core.groups import training_groups
from retrain.components.training_core.plan import Augmentation, Phase, TrainingPlan, guard_for, phases, task_guards_for

EARLY_STOPPING_METRIC = "val_accuracy"
HEAD_STEPS_PER_EXECUTION = 32


def _batches(data: Any, batch_size: int, shuffle_seed: Optional[int]) -> Optional[tf.data.Dataset]:
    """A dataset of batches from a dataset (returned as is) or an (x, one-hot y) pair of arrays ({task: one-hot y} for several tasks)."""
    if data is None or not isinstance(data, tuple):
        return data
    dataset = tf.data.Dataset.from_tensor_slices(data)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(tf.nest.flatten(data[1])[0]), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def _augmenter(augmentation: Augmentation) -> Callable[[Any, tf.Tensor], Any]:
    def augment(inputs: Any, seed: tf.Tensor) -> Any:
        images = model_input(inputs)
        if images.dtype != tf.float32 or images.shape.rank != 4:
            raise ValueError("training.augmentation applies to image inputs only")
        augmented = augment_images(images, seed, augmentation)
        return {**inputs, MODEL_INPUT: augmented} if isinstance(inputs, Mapping) else augmented

    return augment


def _phase_callbacks(
    plan: TrainingPlan,
    optimizers: Callable[[], Sequence[tuple[tf.keras.optimizers.Optimizer, float]]],
    first_epoch: int,
    phase: Phase,
    checkpoint: Optional[tf.train.Checkpoint],
    checkpoint_dir: Optional[str],
    num_classes: int,
) -> list[tf.keras.callbacks.Callback]:
    """Schedule, early stopping, the divergence guard and (last) the epoch checkpoint of one phase."""
    callbacks: list[tf.keras.callbacks.Callback] = []
    if plan.lr_schedule != "constant" or plan.warmup_epochs > 0:
        callbacks.append(LearningRateSchedule(optimizers, first_epoch, phase.epochs, plan.warmup_epochs, plan.lr_schedule))
    if plan.early_stopping_patience > 0:
        callbacks.append(
            tf.keras.callbacks.EarlyStopping(
                monitor=EARLY_STOPPING_METRIC, mode="max", patience=plan.early_stopping_patience, restore_best_weights=True
            )
        )
    if plan.multitask:
        # Early stopping watches the tasks' mean accuracy; each task's head has its own guard.
        callbacks.insert(0, MeanTaskAccuracy([task_logits_layer(task.name) for task in plan.tasks]))
        callbacks += [DivergenceCallback(guard, task_logits_layer(task)) for task, guard in task_guards_for(plan, phase).items()]
    elif (guard := guard_for(plan, phase, num_classes)) is not None:
        callbacks.append(DivergenceCallback(guard))
    if checkpoint is not None and checkpoint_dir:
        callbacks.append(EpochCheckpoint(checkpoint, checkpoint_dir, first_epoch + phase.epochs))
    return callbacks


def _compile(model: tf.keras.Model, plan: TrainingPlan, steps_per_execution: int = 1) -> None:
    """One head's loss and metrics, or (several tasks) each task's, weighted."""
    if plan.multitask:
        compile_multitask_classifier(model, plan.learning_rate, plan.tasks, steps_per_execution)
    else:
        compile_classifier(model, plan.learning_rate, plan.label_smoothing, steps_per_execution)


def _classes(model: tf.keras.Model) -> int:
    """The classes of a one-output model (0 for several outputs: each task's head knows its own)."""
    return int(model.output_shape[-1]) if not isinstance(model.output_shape, dict) else 0


def _fit(
    model: tf.keras.Model,
    train: tf.data.Dataset,
    validation: Optional[tf.data.Dataset],
    first_epoch: int,
    end_epoch: int,
    class_weight: Optional[dict[int, float]],
    callbacks: Sequence[tf.keras.callbacks.Callback],
    verbose: int,
) -> tf.keras.callbacks.History:
    if verbose:
        callbacks = [EpochProgress(), *callbacks]
    return model.fit(
        train,
        validation_data=validation,
        epochs=end_epoch,
        initial_epoch=first_epoch,
        class_weight=class_weight,
        callbacks=list(callbacks),
        verbose=verbose,
    )


def _built_group_optimizers(model: GroupedTrainingModel, phase: Phase) -> dict[str, tf.keras.optimizers.Optimizer]:
    """Creates every group optimizer's slot variables now, keyed by checkpoint name.

    Slots created inside the first traced training step make `tf.function` trace
    that step twice (once creating variables, once without); built beforehand, every
    phase traces it once, and dropout draws the same with or without checkpoints.
    """
    optimizers = {}
    for name, optimizer, _, variables in model.group_optimizers():
        optimizer.build(list(variables))
        optimizers[f"{phase.name}_{name}_optimizer"] = optimizer
    return optimizers


def _peak_rates(model: GroupedTrainingModel) -> list[tuple[tf.keras.optimizers.Optimizer, float]]:
    return [(optimizer, peak) for _, optimizer, peak, _ in model.group_optimizers()]


def _resume_point(model: tf.keras.Model, checkpoint_dir: Optional[str], verbose: int) -> int:
    """Restores the model from the latest checkpoint, if any; returns the global epochs it had completed."""
    done = completed_epochs(checkpoint_dir)
    if done and checkpoint_dir:
        restore(tf.train.Checkpoint(model=model), checkpoint_dir)
        if verbose:
            print(f"[retrain] resuming from the checkpoint after epoch {done} ({checkpoint_dir})", flush=True)
    return done


def _train_head_on_embeddings(
    model: GroupedTrainingModel,
    train: tf.data.Dataset,
    plan: TrainingPlan,
    validation: Optional[tf.data.Dataset],
    class_weight: Optional[dict[int, float]],
    callbacks: Sequence[tf.keras.callbacks.Callback],
    verbose: int,
    checkpoint_dir: Optional[str],
) -> list[tf.keras.callbacks.History]:
    """feature_extraction: one backbone pass over train (and validation), then `epochs` epochs of the head alone."""
    done = _resume_point(model, checkpoint_dir, verbose)
    phase = phases(plan)[0]
    if done >= phase.epochs:
        return []
    start = time.perf_counter()
    (train_x, train_y), carved = embed(model, train, plan.validation_fraction, plan.seed, progress="train examples" if verbose else None)
    head = head_model(model)
    # A head step is tiny: many steps per call keep Python's per-step overhead out of the way.
    _compile(head, plan, steps_per_execution=HEAD_STEPS_PER_EXECUTION)
    if carved is None and validation is not None:
        (validation_x, validation_y), _ = embed(model, validation, progress="validation examples" if verbose else None)
        carved = (validation_x, validation_y)
    if verbose:
        print(
            f"[retrain] embedded {len(train_y)} train"
            f"{f' and {len(carved[1])} validation' if carved is not None else ''} examples once "
            f"in {time.perf_counter() - start:.1f}s; training the head on them for {phase.epochs} epochs",
            flush=True,
        )
    head.optimizer.build(head.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, head_optimizer=head.optimizer) if checkpoint_dir else None
    if checkpoint is not None and done:
        restore(checkpoint, checkpoint_dir)
    phase_callbacks = _phase_callbacks(plan, lambda: [(head.optimizer, plan.learning_rate)], 0, phase, checkpoint, checkpoint_dir, _classes(head))
    embedded_train = _batches((train_x, train_y), plan.batch_size, plan.seed)
    embedded_validation = _batches(carved, plan.batch_size, None)
    return [_fit(head, embedded_train, embedded_validation, done, phase.epochs, class_weight, [*callbacks, *phase_callbacks], verbose)]


def train_classifier(
    model: GroupedTrainingModel,
    train: Any,
    plan: TrainingPlan,
    validation: Optional[Any] = None,
    class_weight: Optional[dict[int, float]] = None,
    callbacks: Sequence[tf.keras.callbacks.Callback] = (),
    batch_size: Optional[int] = None,
    verbose: int = 2,
    checkpoint_dir: Optional[str] = None,
) -> list[tf.keras.callbacks.History]:
    """Runs every phase of `plan`; returns the histories of the phases that ran.

    `train` and `validation` are datasets of (features, one-hot labels) batches or
    (x, one-hot y) arrays; with several tasks (`plan.tasks`) the labels are {task: one-hot labels},
    the loss is the tasks' weighted sum (class weights inside it, `class_weight` unused)
    and early stopping watches their mean accuracy. With `plan.validation_fraction` the validation data is
    carved from `train` (see `validation.py`) and `validation` is not used;
    otherwise `validation` is only monitored. Early stopping watches validation
    accuracy and restores the best weights. With `checkpoint_dir`, every epoch is
    checkpointed there and a re-run resumes after the latest checkpoint. On CPU, Grappler's
    rewrites are off while it trains, or stay on with their bfloat16 pass added with `plan.cpu_mixed_precision`
    on a CPU with native bfloat16 (see `devices.cpu_graph_rewrites`).
    """
    skip_library_conversion()
    with cpu_graph_rewrites(cpu_mixed_bfloat16(plan.cpu_mixed_precision, visible_gpus())):
        return _train_phases(model, train, plan, validation, class_weight, callbacks, batch_size, verbose, checkpoint_dir)


def _train_phases(
    model: GroupedTrainingModel,
    train: Any,
    plan: TrainingPlan,
    validation: Optional[Any],
    class_weight: Optional[dict[int, float]],
    callbacks: Sequence[tf.keras.callbacks.Callback],
    batch_size: Optional[int],
    verbose: int,
    checkpoint_dir: Optional[str],
) -> list[tf.keras.callbacks.History]:
    """The body of `train_classifier`."""
    batch_size = batch_size or plan.batch_size
    train = _batches(train, batch_size, plan.seed)
    validation = _batches(validation, batch_size, None)
    if plan.multitask and class_weight:
        raise ValueError("with several tasks each task's class weights are in plan.tasks, not class_weight")
    if plan.early_stopping_patience > 0 and plan.validation_fraction <= 0:
        raise ValueError("early stopping needs a validation subset of the train split: set validation_fraction > 0")
    if plan.uses_cached_embeddings:
        return _train_head_on_embeddings(
            model, train, replace(plan, batch_size=batch_size), validation, class_weight, callbacks, verbose, checkpoint_dir
        )
    if plan.validation_fraction > 0:
        train, validation = split_validation(train, plan.validation_fraction, plan.seed)
        callbacks = [RequireValidationSubset(plan.validation_fraction), *callbacks]
    backbone = model.get_layer(BACKBONE_LAYER)
    backbone_refs = {variable.ref() for variable in backbone.weights}
    head = [variable for variable in model.trainable_weights if variable.ref() not in backbone_refs]
    blocks = backbone_blocks(backbone.trainable_weights, plan.block_pattern)
    done = _resume_point(model, checkpoint_dir, verbose)
    histories, epoch = [], 0
    for index, phase in enumerate(phases(plan)):
        if phase.unfreeze_blocks and not blocks:
            raise ValueError(f"mode {plan.mode!r} needs a trainable backbone, but it exposes no trainable variables")
        end = epoch + phase.epochs
        if done >= end:
            epoch = end
            continue
        model.set_training_groups(
            training_groups(head, blocks, plan.learning_rate, phase.backbone_learning_rate_scale, phase.unfreeze_blocks, phase.layer_decay)
        )
        model.set_augmentation(_augmenter(plan.augmentation) if plan.augmentation.enabled else None, plan.seed + index)
        _compile(model, plan)
        optimizers = _built_group_optimizers(model, phase)
        checkpoint = None
        if checkpoint_dir:
            checkpoint = tf.train.Checkpoint(model=model, **optimizers)
            if done > epoch:
                restore(checkpoint, checkpoint_dir)
        if verbose:
            print(f"[retrain] training phase '{phase.name}': {phase.epochs} epochs", flush=True)
        phase_callbacks = _phase_callbacks(plan, partial(_peak_rates, model), epoch, phase, checkpoint, checkpoint_dir, _classes(model))
        histories.append(_fit(model, train, validation, max(epoch, done), end, class_weight, [*callbacks, *phase_callbacks], verbose))
        epoch = end
    return histories
