"""The Trainer's run_fn on really transformed examples: tuned settings applied, every signature readable, checkpoints keyed and cleaned."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from retrain.components.digits_example import data as digits
from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.hub_trainer import devices
from retrain.components.hub_trainer.export import RAW_SIGNATURE, TRANSFORM_SIGNATURE
from retrain.components.training_core.cpu_features import cpu_mixed_precision_note, native_bfloat16
from retrain.components.tuning.hyperparameters import apply_hyperparameters
from retrain.components.hub_trainer.trainer_module import checkpoint_dir_for, run_fn
from retrain.components.hub_trainer.warm_start import saved_variables
from hub_trainer_data import CLASS_NAMES, TransformedDigits, fn_args, trainer_settings, transformed_digits
from settings_data import settings as typed_settings


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> TransformedDigits:
    return transformed_digits(tmp_path_factory.mktemp("transformed"), per_class=10, eval_limit=60)


def _raw_example(image: np.ndarray, label: str | None = None) -> bytes:
    feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[digits.encode_png(image)]))}
    if label is not None:
        feature["label"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_run_fn_applies_tuned_hyperparameters_and_every_serving_signature_is_readable(
    tmp_path: Path, digits_example: ExampleLayout, transformed: TransformedDigits
) -> None:
    settings = trainer_settings(digits_example, epochs=3, validation_fraction=0.2, early_stopping_patience=2)
    tuned = {"values": {"head_depth": 1, "head_width": 8, "dropout": 0.0, "learning_rate": 0.02}}
    args = fn_args(transformed, tmp_path, settings, tuned)
    run_fn(args)

    model = tf.saved_model.load(args.serving_model_dir)
    assert any(v.name.startswith("head_dense_0/kernel") and v.shape[-1] == 8 for v in model.variables), "tuned head not applied"
    images = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS).images[:3]
    for name, call in (
        ("serving_default", lambda: model.signatures["serving_default"](examples=tf.constant([_raw_example(i) for i in images]))),
        (RAW_SIGNATURE, lambda: model.signatures[RAW_SIGNATURE](image=tf.constant([digits.encode_png(i) for i in images]))),
    ):
        outputs = call()
        probabilities = outputs["probabilities"].numpy()
        assert probabilities.shape == (3, 5) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5), name
        assert [n.decode() for n in outputs["class_names"].numpy()[0]] == CLASS_NAMES, name
        assert [p.decode() for p in outputs["predicted_class"].numpy()] == [CLASS_NAMES[i] for i in probabilities.argmax(1)], name
    features = model.signatures[TRANSFORM_SIGNATURE](examples=tf.constant([_raw_example(images[0], "7"), _raw_example(images[1], "x")]))
    assert features["model_input"].shape == (2, 8, 8, 1) and features["label_id"].numpy().tolist() == [2, -1]

    # Warm start reads an exported model's variables without loading its functions: the same values as loading it
    # (plus the compiled metrics' counters, which no model weight is named after).
    loaded = {v.name.split(":")[0]: v.numpy() for v in model.variables}
    read = saved_variables(args.serving_model_dir)
    assert loaded.keys() <= read.keys() and all(np.array_equal(read[name], loaded[name]) for name in loaded)

    assert tf.io.gfile.glob(os.path.join(args.model_run_dir, "train", "events.out.tfevents.*")), "no TensorBoard logs"
    assert not tf.io.gfile.exists(checkpoint_dir_for(args)), "a finished run leaves no checkpoints behind"


def test_cpu_mixed_precision_is_logged_and_the_export_stays_float32(
    tmp_path: Path, digits_example: ExampleLayout, transformed: TransformedDigits, capsys: pytest.CaptureFixture[str]
) -> None:
    args = fn_args(transformed, tmp_path, trainer_settings(digits_example, epochs=1, cpu_mixed_precision=True))
    run_fn(args)
    if not devices.visible_gpus():
        assert f"[retrain] cpu_mixed_precision: {cpu_mixed_precision_note(native_bfloat16())}" in capsys.readouterr().out
    model = tf.saved_model.load(args.serving_model_dir)
    assert {variable.dtype for variable in model.variables} == {tf.float32}
    image = digits.select_digits(digits.load_digits_images(), digits.TARGET_DIGITS).images[:1]
    probabilities = model.signatures[RAW_SIGNATURE](image=tf.constant([digits.encode_png(i) for i in image]))["probabilities"]
    assert probabilities.dtype == tf.float32


def test_checkpoint_directory_is_stable_across_executions_and_keyed_on_inputs(tmp_path: Path, transformed: TransformedDigits) -> None:
    settings = {"epochs": 3, "seed": 1}
    first = fn_args(transformed, tmp_path, settings)
    again = fn_args(transformed, tmp_path, settings)
    again.model_run_dir = str(tmp_path / "Trainer" / "model_run" / "8")  # a re-execution gets a new run directory
    assert checkpoint_dir_for(again) == checkpoint_dir_for(first)
    assert checkpoint_dir_for(first).startswith(str(tmp_path / "Trainer" / "checkpoints"))
    assert checkpoint_dir_for(fn_args(transformed, tmp_path, {**settings, "epochs": 4})) != checkpoint_dir_for(first)
    assert checkpoint_dir_for(fn_args(transformed, tmp_path, settings, {"values": {"dropout": 0.2}})) != checkpoint_dir_for(first)


def test_hyperparameters_override_the_settings() -> None:
    settings = typed_settings(hidden_units=(), dropout=0.1, learning_rate=0.01, unfreeze_blocks=1, epochs=5)
    assert apply_hyperparameters(settings, None) == settings
    tuned = apply_hyperparameters(settings, {"space": [], "values": {"head_depth": 2, "head_width": 64, "dropout": 0.3, "unfreeze_blocks": 2}})
    assert tuned == settings.updated(hidden_units=(64, 64), dropout=0.3, unfreeze_blocks=2)
    assert apply_hyperparameters(settings, {"head_depth": 0, "head_width": 64}).hidden_units == ()
