"""Executor of TorchTrainer: transformed TFRecords -> trained classifier -> TorchScript/ONNX/state dict."""

from __future__ import annotations

import json
import shutil
from typing import Any, Optional

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from retrain.components.branches import FRAMEWORK_PROPERTY, PYTORCH
from retrain.components.label_prep.task_maps import load_task_label_maps
from retrain.components.trainer_settings import trainer_settings_from
from retrain.components.training_core.checkpoints import checkpoint_dir
from retrain.components.training_core.tasks import task_heads
from retrain.components.tuning.hyperparameters import apply_hyperparameters


def examples_split_files(examples: list[types.Artifact], split: str) -> list[str]:
    """The TFRecord files of `split` in every Examples artifact."""
    from retrain.components.torch_trainer.data import split_files

    return [path for artifact in examples for path in split_files(artifact.uri, split)]


def tuned_hyperparameters(input_dict: dict[str, list[types.Artifact]]) -> Optional[dict[str, Any]]:
    """The tuner's best hyperparameters (a KerasTuner config), read as TFX's Trainer reads the Tuner's; None untuned.

    tfx/components/trainer/executor.py, `_GetFnArgs` (tfx 1.16): the only file in the `hyperparameters` artifact, as JSON.
    """
    artifacts = input_dict.get("hyperparameters")
    if not artifacts:
        return None
    with fileio.open(io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(artifacts))) as handle:
        return json.loads(handle.read())


def _checkpoint_dir(model_run_uri: str, input_dict: dict[str, list[types.Artifact]], custom_config: str) -> str:
    """Stable per (inputs, settings): a re-run after an interruption resumes where the last one stopped."""
    inputs = {name: sorted(artifact.id for artifact in artifacts) for name, artifacts in input_dict.items()}
    return checkpoint_dir(model_run_uri, {"inputs": inputs, "settings": custom_config})


class Executor(base_executor.BaseExecutor):
    """Trains and exports the PyTorch classifier described by `custom_config`.

    Tuned `hyperparameters` (TorchTuner's best) replace the settings' head, dropout, learning
    rate and unfrozen blocks exactly as the TF trainer applies the Tuner's. Trains in this process, or, with several GPUs visible (or `torch_processes` > 1),
    in one DistributedDataParallel worker per GPU started with PyTorch's elastic
    launcher; rank 0 exports, then this process records the artifact. With several task
    labels: one shared backbone, one head per task, each task's label map from the transform output.
    """

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        import tensorflow_transform as tft
        import torch

        from retrain.components.torch_trainer.launch import process_count
        from retrain.components.torch_trainer.worker import TrainingJob, run_training

        hyperparameters = tuned_hyperparameters(input_dict)
        settings = apply_hyperparameters(trainer_settings_from(json.loads(exec_properties["custom_config"])), hyperparameters)
        if hyperparameters:
            print(f"[retrain] TorchTrainer: tuned hyperparameters {hyperparameters['values']}", flush=True)
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        label_maps = load_task_label_maps(transform_uri, settings.task_labels)
        label_map = label_maps[settings.label_feature]
        tasks = task_heads(settings.task_labels, settings.loss_weights, label_maps, settings.task_hidden_units) if settings.multitask else ()
        processes = process_count(settings.torch_processes, torch.cuda.device_count())
        base_models = input_dict.get("base_model") or []
        model_run_uri = artifact_utils.get_single_uri(output_dict["model_run"])
        model_artifact = artifact_utils.get_single_instance(output_dict["model"])
        checkpoints = _checkpoint_dir(model_run_uri, input_dict, exec_properties["custom_config"])
        job = TrainingJob(
            train_files=examples_split_files(input_dict["examples"], "train"),
            eval_files=examples_split_files(input_dict["examples"], "eval"),
            feature_spec=dict(tft.TFTransformOutput(transform_uri).transformed_feature_spec()),
            settings=settings,
            labels={task: list(task_map.labels) for task, task_map in label_maps.items()} if tasks else list(label_map.labels),
            class_weights=None if tasks else list(label_map.class_weights) or None,  # several tasks: in each task's loss
            label_smoothing=label_map.label_smoothing,
            checkpoint_dir=checkpoints,
            export_dir=path_utils.serving_model_path(model_artifact.uri),
            log_dir=model_run_uri,
            base_model_dir=path_utils.serving_model_path(base_models[0].uri) if base_models else None,
            tasks=tasks,
        )
        if processes > 1:
            print(f"[retrain] TorchTrainer: {processes} DistributedDataParallel processes", flush=True)
        results = run_training(job, processes)
        if processes > 1:
            print(
                f"[retrain] TorchTrainer: train examples per process {[result.shard_examples for result in results]}, identical final weights",
                flush=True,
            )
        shutil.rmtree(checkpoints, ignore_errors=True)
        model_artifact.set_string_custom_property(FRAMEWORK_PROPERTY, PYTORCH)
