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
from components.trainer_settings import trainer_settings_from

FRAMEWORK_PROPERTY = "framework"
PYTORCH = "pytorch"


def _split_files(examples: list[types.Artifact], split: str) -> list[str]:
    from components.torch_trainer.data import split_files

    return [path for artifact in examples for path in split_files(artifact.uri, split)]


def _checkpoint_dir(model_run_uri: str, input_dict: dict[str, list[types.Artifact]], custom_config: str) -> str:
    """Stable per (inputs, settings): a re-run after an interruption resumes where the last one stopped."""
    key = json.dumps({name: sorted(a.id for a in artifacts) for name, artifacts in sorted(input_dict.items())}) + custom_config
    return os.path.join(os.path.dirname(os.path.dirname(model_run_uri)), "checkpoints", hashlib.sha256(key.encode()).hexdigest()[:16])


class Executor(base_executor.BaseExecutor):
    """Trains and exports the PyTorch classifier described by `custom_config`.

    Trains in this process, or, with several GPUs visible (or `torch_processes` > 1),
    in one DistributedDataParallel worker per GPU started with PyTorch's elastic
    launcher; rank 0 exports, then this process records the artifact.
    """

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        import tensorflow_transform as tft
        import torch

        from components.torch_trainer.launch import process_count
        from components.torch_trainer.worker import TrainingJob, run_training

        settings = trainer_settings_from(json.loads(exec_properties["custom_config"]))
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        label_map = load_label_map(transform_uri)
        processes = process_count(settings.torch_processes, torch.cuda.device_count())
        base_models = input_dict.get("base_model") or []
        model_run_uri = artifact_utils.get_single_uri(output_dict["model_run"])
        model_artifact = artifact_utils.get_single_instance(output_dict["model"])
        checkpoints = _checkpoint_dir(model_run_uri, input_dict, exec_properties["custom_config"])
        job = TrainingJob(
            train_files=_split_files(input_dict["examples"], "train"),
            eval_files=_split_files(input_dict["examples"], "eval"),
            feature_spec=dict(tft.TFTransformOutput(transform_uri).transformed_feature_spec()),
            settings=settings,
            labels=list(label_map.labels),
            class_weights=list(label_map.class_weights) or None,
            label_smoothing=label_map.label_smoothing,
            checkpoint_dir=checkpoints,
            export_dir=path_utils.serving_model_path(model_artifact.uri),
            log_dir=model_run_uri,
            base_model_dir=path_utils.serving_model_path(base_models[0].uri) if base_models else None,
        )
        if processes > 1:
            print(f"[retrain] TorchTrainer: {processes} DistributedDataParallel processes", flush=True)
        results = run_training(job, processes)
        if processes > 1:
            print(f"[retrain] TorchTrainer: train examples per process {[result.shard_examples for result in results]}, identical final weights", flush=True)
        shutil.rmtree(checkpoints, ignore_errors=True)
        model_artifact.set_string_custom_property(FRAMEWORK_PROPERTY, PYTORCH)
