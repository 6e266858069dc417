"""Executor of TorchTrainer: transformed TFRecords -> trained classifier -> TorchScript/ONNX/state dict."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.label_prep.label_map import load_label_map

FRAMEWORK_PROPERTY = "framework"
PYTORCH = "pytorch"


def _split_files(examples: list[types.Artifact], split: str) -> list[str]:
    from components.torch_trainer.data import split_files

    return [path for artifact in examples for path in split_files(artifact.uri, split)]


def _checkpoint_dir(model_run_uri: str, input_dict: dict[str, list[types.Artifact]], custom_config: str) -> str:
    """Stable per (inputs, settings): a re-run after an interruption resumes where the last one stopped."""
    key = json.dumps({name: sorted(a.id for a in artifacts) for name, artifacts in sorted(input_dict.items())}) + custom_config
    return os.path.join(os.path.dirname(os.path.dirname(model_run_uri)), "checkpoints", hashlib.sha256(key.encode()).hexdigest()[:16])


class _EpochLogger:
    """Per-epoch loss/accuracy as `epoch_*` TensorBoard scalars under train/ and validation/ (what the report reads)."""

    def __init__(self, directory: str) -> None:
        import tensorflow as tf

        self._tf = tf
        self._writers = {name: tf.summary.create_file_writer(os.path.join(directory, name)) for name in ("train", "validation")}

    def __call__(self, record: Any) -> None:
        values = {"train": (record.loss, record.accuracy), "validation": (record.val_loss, record.val_accuracy)}
        for name, (loss, accuracy) in values.items():
            if loss is None:
                continue
            with self._writers[name].as_default():
                self._tf.summary.scalar("epoch_loss", loss, step=record.epoch)
                self._tf.summary.scalar("epoch_accuracy", accuracy, step=record.epoch)
                self._writers[name].flush()
        validation = f", val_loss {record.val_loss:.4f}, val_accuracy {record.val_accuracy:.4f}" if record.val_loss is not None else ""
        print(f"[retrain] torch epoch {record.epoch + 1} ({record.phase}): loss {record.loss:.4f}, accuracy {record.accuracy:.4f}{validation}", flush=True)


class Executor(base_executor.BaseExecutor):
    """Trains and exports the PyTorch classifier described by `custom_config`."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        import tensorflow_transform as tft
        import torch

        from components.hub_trainer.training import TrainingPlan
        from components.torch_trainer.accelerate import Accelerator
        from components.torch_trainer.data import TransformedExamples, carve_validation, load_all
        from components.torch_trainer.export import export_model
        from components.torch_trainer.model import build_classifier
        from components.torch_trainer.training import train_classifier
        from components.torch_trainer.warm_start import warm_start

        settings = json.loads(exec_properties["custom_config"])
        seed = int(settings["seed"])
        torch.manual_seed(seed)
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        spec = tft.TFTransformOutput(transform_uri).transformed_feature_spec()
        label_map = load_label_map(transform_uri)
        accelerator = Accelerator.detect(mixed_precision=bool(settings.get("mixed_precision", False)))
        plan = TrainingPlan.from_settings(settings, label_map.label_smoothing)
        accelerator.init_distributed()

        def split(name: str, sharded: bool) -> tuple[Any, torch.Tensor]:
            """A split in memory: this rank's shard, or all of it (validation: every rank takes the same decisions)."""
            rank, world_size = (accelerator.rank, accelerator.world_size) if sharded else (0, 1)
            return load_all(TransformedExamples(_split_files(input_dict["examples"], name), spec, rank, world_size), accelerator.device)

        if plan.validation_fraction > 0:  # the TF trainer's subset of train; otherwise eval is monitored only
            train, validation = carve_validation(split("train", sharded=False), plan.validation_fraction, plan.seed)
            if accelerator.world_size > 1:
                train = (train[0][accelerator.rank :: accelerator.world_size], train[1][accelerator.rank :: accelerator.world_size])
        else:
            train, validation = split("train", sharded=True), split("eval", sharded=False)
        model = build_classifier(settings, len(label_map.labels), example=train[0][:1])
        base_models = input_dict.get("base_model") or []
        if base_models and settings["warm_start"]:
            base_dir = path_utils.serving_model_path(base_models[0].uri)
            print(f"[retrain] {warm_start(model, base_dir).summary()} (from {base_dir})", flush=True)
        model_run_uri = artifact_utils.get_single_uri(output_dict["model_run"])
        checkpoints = _checkpoint_dir(model_run_uri, input_dict, exec_properties["custom_config"])
        os.makedirs(checkpoints, exist_ok=True)
        train_classifier(
            model,
            train,
            plan,
            validation=validation,
            class_weights=label_map.class_weights,
            batchnorm=settings["batchnorm"],
            checkpoint_dir=checkpoints,
            on_epoch_end=_EpochLogger(model_run_uri) if accelerator.is_main_process else None,
            accelerator=accelerator,
        )
        model_artifact = artifact_utils.get_single_instance(output_dict["model"])
        if accelerator.is_main_process:
            export_model(model, train[0][:2], label_map.labels, settings, path_utils.serving_model_path(model_artifact.uri))
            shutil.rmtree(checkpoints, ignore_errors=True)
        model_artifact.set_string_custom_property(FRAMEWORK_PROPERTY, PYTORCH)
