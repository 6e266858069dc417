"""TFX Trainer entry point (`run_fn`): trains the Hub transfer model on transformed examples."""
from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from components.hub_trainer import export, model as model_lib
from components.hub_trainer.features import LABEL_ID, LABEL_VOCABULARY


def _dataset(
    files: list[str],
    data_accessor: tfx.components.DataAccessor,
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle_seed: int | None,
) -> tf.data.Dataset:
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size,
        label_key=LABEL_ID,
        num_epochs=1,
        shuffle=shuffle_seed is not None,
        shuffle_seed=shuffle_seed,
    )
    return data_accessor.tf_dataset_factory(files, options, tft_output.transformed_metadata.schema)


def class_names_of(tft_output: tft.TFTransformOutput) -> list[str]:
    """Class names in label-id order, from the Transform label vocabulary."""
    return [name.decode() if isinstance(name, bytes) else name for name in tft_output.vocabulary_by_name(LABEL_VOCABULARY)]


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Builds, trains and exports the classifier described by `fn_args.custom_config`."""
    settings: Mapping[str, Any] = fn_args.custom_config
    seed = int(settings["seed"])
    tf.keras.utils.set_random_seed(seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    class_names = class_names_of(tft_output)
    batch_size = int(settings["batch_size"])
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tft_output, batch_size, shuffle_seed=seed)
    evaluation = _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, batch_size, shuffle_seed=None)

    input_shape, input_dtype = model_lib.input_signature(settings["task_type"], settings["image_size"], settings["channels"])
    model = model_lib.build_classifier(
        backbone_handle=settings["backbone_handle"],
        input_shape=input_shape,
        input_dtype=input_dtype,
        num_classes=len(class_names),
        hidden_units=settings["hidden_units"],
        dropout=float(settings["dropout"]),
        trainable_backbone=settings["mode"] != "feature_extraction",
        seed=seed,
    )
    model_lib.compile_classifier(model, float(settings["learning_rate"]))
    model.fit(
        train,
        validation_data=evaluation,
        epochs=int(settings["epochs"]),
        verbose=2,
        callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)],
    )
    export.export_serving_model(model, tft_output, class_names, settings, fn_args.serving_model_dir)
