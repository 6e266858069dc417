"""TFX Trainer entry point (`run_fn`): trains the Hub transfer model on transformed examples."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from retrain.components.hub_trainer import devices, export, model as model_lib
from retrain.components.hub_trainer.checkpoints import remove_checkpoints
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.hub_trainer.warm_start import warm_start
from retrain.components.hub_trainer.task_data import transformed_task_dataset
from retrain.components.label_prep.task_maps import load_task_label_maps
from retrain.components.trainer_settings import trainer_settings_from
from retrain.components.training_core.checkpoints import checkpoint_dir
from retrain.components.training_core.cpu_features import cpu_mixed_precision_note
from retrain.components.training_core.features import LABEL_ID, labelled
from retrain.components.training_core.plan import TrainingPlan
from retrain.components.training_core.tasks import task_heads
from retrain.components.tuning.hyperparameters import apply_hyperparameters


def transformed_dataset(
    files: list[str],
    data_accessor: DataAccessor,
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    num_classes: int,
    shuffle_seed: int | None,
) -> tf.data.Dataset:
    """Batches of (features, one-hot labels); records whose label has no id (-1) are left out."""
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size,
        label_key=LABEL_ID,
        num_epochs=1,
        shuffle=shuffle_seed is not None,
        shuffle_seed=shuffle_seed,
    )
    dataset = data_accessor.tf_dataset_factory(files, options, tft_output.transformed_metadata.schema)
    return dataset.map(lambda features, labels: _labelled_only(features, labels, num_classes)).prefetch(tf.data.AUTOTUNE)


def _labelled_only(features: dict[str, tf.Tensor], labels: tf.Tensor, num_classes: int) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    labels = tf.reshape(labels, [-1])
    keep = labelled(labels)
    kept = {name: tf.boolean_mask(values, keep) for name, values in features.items()}
    return kept, tf.one_hot(tf.boolean_mask(labels, keep), num_classes)


def checkpoint_dir_for(fn_args: FnArgs) -> str:
    """Stable across re-executions with the same inputs and settings: `<pipeline_root>/Trainer/checkpoints/<fingerprint>`.

    TFX gives each execution a fresh `model_run_dir` (`<pipeline_root>/Trainer/model_run/<id>`);
    its grandparent is the component's stable directory.
    """
    return checkpoint_dir(
        fn_args.model_run_dir,
        {
            "settings": dict(fn_args.custom_config),
            "train_files": sorted(fn_args.train_files),
            "eval_files": sorted(fn_args.eval_files),
            "transform_output": fn_args.transform_output,
            "base_model": fn_args.base_model,
            "hyperparameters": fn_args.hyperparameters,
        },
    )


def run_fn(fn_args: FnArgs) -> None:
    """Builds, trains and exports the classifier described by `fn_args.custom_config` (and tuned hyperparameters).

    With several task labels: one shared backbone, one head per task, each task's label map from the transform output.
    """
    settings = apply_hyperparameters(trainer_settings_from(fn_args.custom_config), fn_args.hyperparameters)
    seed = settings.seed
    tf.keras.utils.set_random_seed(seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    label_maps = load_task_label_maps(fn_args.transform_output, settings.task_labels)
    label_map = label_maps[settings.label_feature]
    num_classes = len(label_map.labels)
    tasks = task_heads(settings.task_labels, settings.loss_weights, label_maps, settings.task_hidden_units) if settings.multitask else ()
    batch_size = settings.batch_size
    if tasks:
        train = transformed_task_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, tasks, shuffle_seed=seed)
        evaluation = transformed_task_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, tasks, shuffle_seed=None)
    else:
        train = transformed_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, num_classes, shuffle_seed=seed)
        evaluation = transformed_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, num_classes, shuffle_seed=None)
    plan = TrainingPlan.from_settings(settings, label_map.label_smoothing, tasks)

    gpus = devices.visible_gpus()
    policy = devices.precision_policy(settings.mixed_precision, gpus)
    if settings.mixed_precision and policy == "float32":
        print("[retrain] mixed_precision: no GPU visible, training in float32", flush=True)
    if settings.cpu_mixed_precision and not gpus:
        print(f"[retrain] cpu_mixed_precision: {cpu_mixed_precision_note(devices.cpu_mixed_bfloat16(True, gpus))}", flush=True)
    if plan.mode == "feature_extraction" and plan.augmentation.enabled:
        print("[retrain] augmentation is on: embeddings are not cached, the frozen backbone runs every epoch", flush=True)
    checkpoints = checkpoint_dir_for(fn_args)
    previous_policy = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        with devices.strategy_for(gpus).scope():
            if tasks:
                model = model_lib.build_multitask_classifier_from_settings(settings, tasks)
            else:
                model = model_lib.build_classifier_from_settings(settings, num_classes)
            if fn_args.base_model and settings.warm_start:
                print(f"[retrain] {warm_start(model, fn_args.base_model).summary()} (from {fn_args.base_model})", flush=True)
            train_classifier(
                model,
                train,
                plan,
                validation=evaluation,
                class_weight=None if tasks else dict(enumerate(label_map.class_weights)),  # several tasks: in each task's loss
                callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)],
                checkpoint_dir=checkpoints,
            )
    finally:
        tf.keras.mixed_precision.set_global_policy(previous_policy)
    class_names = {task: task_map.labels for task, task_map in label_maps.items()} if tasks else label_map.labels
    export.export_serving_model(model, tft_output, class_names, settings, fn_args.serving_model_dir)
    remove_checkpoints(checkpoints)
