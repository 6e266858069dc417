"""TFX Trainer entry point (`run_fn`): trains the Hub transfer model on transformed examples."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from retrain.components.hub_trainer import devices, export, model as model_lib
from retrain.components.hub_trainer.checkpoints import remove_checkpoints
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.hub_trainer.warm_start import warm_start
from retrain.components.label_prep.label_map import load_label_map
from retrain.components.trainer_settings import trainer_settings_from
from retrain.components.training_core.checkpoints import checkpoint_dir
from retrain.components.training_core.features import LABEL_ID, labelled
from retrain.components.training_core.plan import TrainingPlan
from retrain.components.tuning.hyperparameters import apply_hyperparameters


def transformed_dataset(
    files: list[str],
    data_accessor: tfx.components.DataAccessor,
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


def checkpoint_dir_for(fn_args: tfx.components.FnArgs) -> str:
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


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Builds, trains and exports the classifier described by `fn_args.custom_config` (and tuned hyperparameters)."""
    settings = apply_hyperparameters(trainer_settings_from(fn_args.custom_config), fn_args.hyperparameters)
    seed = settings.seed
    tf.keras.utils.set_random_seed(seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    label_map = load_label_map(fn_args.transform_output)
    num_classes = len(label_map.labels)
    batch_size = settings.batch_size
    train = transformed_dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, num_classes, shuffle_seed=seed)
    evaluation = transformed_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, num_classes, shuffle_seed=None)
    plan = TrainingPlan.from_settings(settings, label_map.label_smoothing)

    gpus = devices.visible_gpus()
    policy = devices.precision_policy(settings.mixed_precision, gpus)
    if settings.mixed_precision and policy == "float32":
        print("[retrain] mixed_precision: no GPU visible, training in float32", flush=True)
    if plan.mode == "feature_extraction" and plan.augmentation.enabled:
        print("[retrain] augmentation is on: embeddings are not cached, the frozen backbone runs every epoch", flush=True)
    checkpoints = checkpoint_dir_for(fn_args)
    previous_policy = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        with devices.strategy_for(gpus).scope():
            model = model_lib.build_classifier_from_settings(settings, num_classes)
            if fn_args.base_model and settings.warm_start:
                print(f"[retrain] {warm_start(model, fn_args.base_model).summary()} (from {fn_args.base_model})", flush=True)
            train_classifier(
                model,
                train,
                plan,
                validation=evaluation,
                class_weight=dict(enumerate(label_map.class_weights)),
                callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)],
                checkpoint_dir=checkpoints,
            )
    finally:
        tf.keras.mixed_precision.set_global_policy(previous_policy)
    export.export_serving_model(model, tft_output, label_map.labels, settings, fn_args.serving_model_dir)
    remove_checkpoints(checkpoints)
