"""One training process of TorchTrainer: its data shard -> classifier -> training -> export (rank 0).

`train_worker(job)` is what each process runs, alone in the executor's process or as
one of N DistributedDataParallel workers started by `launch.launch`; `run_training`
picks between the two and checks that the workers agree.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch

from retrain.components.torch_trainer.launch import launch
from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.tasks import TaskHead, task_feature


@dataclass(frozen=True)
class TrainingJob:
    """Everything a training process needs, picklable (it is sent to spawned workers).

    `settings`: the trainer's settings (a pydantic model, picklable); `feature_spec`: the transformed feature
    spec; `export_dir`: where rank 0 writes the model; `log_dir`: TensorBoard
    scalars (None: no logs); `base_model_dir`: exported model to warm start from.
    `labels`: the classes in id order; with several `tasks` (their heads), {task: classes}.
    """

    train_files: list[str]
    eval_files: list[str]
    feature_spec: dict[str, Any]
    settings: TrainerSettings
    labels: Union[list[str], dict[str, list[str]]]
    class_weights: Optional[list[float]]
    label_smoothing: float
    checkpoint_dir: str
    export_dir: str
    log_dir: Optional[str] = None
    base_model_dir: Optional[str] = None
    tasks: tuple[TaskHead, ...] = ()


@dataclass(frozen=True)
class WorkerResult:
    """What one process reports: its rank, its distinct train examples, a digest of its final weights, whether it exported."""

    rank: int
    shard_examples: int
    weights_digest: str
    exported: bool


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer, in name order (equal digests: identical weights)."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_worker(job: TrainingJob) -> WorkerResult:
    """Trains on this process's shard (rank and world size from the environment); rank 0 checkpoints and exports."""
    from retrain.components.torch_trainer.accelerate import Accelerator
    from retrain.components.torch_trainer.data import repeat_to, training_splits
    from retrain.components.torch_trainer.export import export_model
    from retrain.components.torch_trainer.model import build_classifier
    from retrain.components.torch_trainer.training import train_classifier
    from retrain.components.torch_trainer.warm_start import warm_start
    from retrain.components.training_core.cpu_features import cpu_mixed_precision_note
    from retrain.components.training_core.features import LABEL_ID
    from retrain.components.training_core.plan import TrainingPlan
    from retrain.components.training_core.tasks import task_label_id

    settings = job.settings
    accelerator = Accelerator.detect(mixed_precision=settings.mixed_precision, cpu_mixed_precision=settings.cpu_mixed_precision)
    accelerator.init_distributed()
    if settings.cpu_mixed_precision and accelerator.device.type == "cpu" and accelerator.is_main_process:
        print(f"[retrain] cpu_mixed_precision: {cpu_mixed_precision_note(accelerator.autocast_dtype is not None)}", flush=True)
    try:
        torch.manual_seed(settings.seed)
        plan = TrainingPlan.from_settings(settings, job.label_smoothing, job.tasks)
        label_features = [task_label_id(task.name) for task in plan.tasks] if plan.multitask else [LABEL_ID]
        train, validation = training_splits(
            job.train_files,
            job.eval_files,
            job.feature_spec,
            plan.validation_fraction,
            plan.seed,
            accelerator.rank,
            accelerator.world_size,
            accelerator.device,
            label_features,
        )
        shard_examples = len(train[1])
        train = repeat_to(train, accelerator.max_across(shard_examples))
        model = build_classifier(settings, len(job.labels), example=train[0][:1], tasks=plan.tasks)
        if job.base_model_dir and settings.warm_start:
            report = warm_start(model, job.base_model_dir)
            if accelerator.is_main_process:
                print(f"[retrain] {report.summary()} (from {job.base_model_dir})", flush=True)
        train_classifier(
            model,
            train,
            plan,
            validation=validation,
            class_weights=job.class_weights,
            backbone_train_mode=settings.backbone_train_mode,
            checkpoint_dir=job.checkpoint_dir,
            on_epoch_end=EpochLogger(job.log_dir) if job.log_dir and accelerator.is_main_process else None,
            accelerator=accelerator,
        )
        digest = weights_digest(model)
        if accelerator.is_main_process:
            export_model(model, train[0][:2], job.labels, settings, job.export_dir)
        return WorkerResult(accelerator.rank, shard_examples, digest, accelerator.is_main_process)
    finally:
        accelerator.close_distributed()


def run_training(job: TrainingJob, processes: int) -> list[WorkerResult]:
    """Trains `job` in this process (1) or in `processes` DDP workers; raises unless they ended alike with one export."""
    if processes == 1:
        return [train_worker(job)]
    results = launch(train_worker, job, processes)
    if len({result.weights_digest for result in results}) != 1:
        raise RuntimeError(f"training processes ended with different weights: {[result.weights_digest[:12] for result in results]}")
    exporters = [result.rank for result in results if result.exported]
    if exporters != [0]:
        raise RuntimeError(f"expected rank 0 alone to export the model, got ranks {exporters}")
    return results


class EpochLogger:
    """Per-epoch loss/accuracy as `epoch_*` TensorBoard scalars under train/ and validation/ (what the report reads).

    With several tasks `epoch_accuracy` is their mean and each task's accuracy is also logged as
    `epoch_logits__<task>_accuracy`, the name the TF trainer's Keras logs give it.
    """

    def __init__(self, directory: str) -> None:
        import tensorflow as tf

        self._tf = tf
        self._writers = {name: tf.summary.create_file_writer(os.path.join(directory, name)) for name in ("train", "validation")}

    def __call__(self, record: Any) -> None:
        values = {
            "train": (record.loss, record.accuracy, record.task_accuracy),
            "validation": (record.val_loss, record.val_accuracy, record.val_task_accuracy),
        }
        for name, (loss, accuracy, task_accuracy) in values.items():
            if loss is None:
                continue
            with self._writers[name].as_default():
                self._tf.summary.scalar("epoch_loss", loss, step=record.epoch)
                self._tf.summary.scalar("epoch_accuracy", accuracy, step=record.epoch)
                for task, value in (task_accuracy or {}).items():
                    self._tf.summary.scalar(f"epoch_{task_feature('logits', task)}_accuracy", value, step=record.epoch)
                self._writers[name].flush()
        print(epoch_line(record), flush=True)


def _per_task(accuracy: Optional[dict[str, float]]) -> str:
    return f" ({', '.join(f'{task} {value:.4f}' for task, value in accuracy.items())})" if accuracy else ""


def epoch_line(record: Any) -> str:
    """`[retrain] torch epoch 3 (head) in 1.2s (410 examples/s): loss …, accuracy …[, val_loss …, val_accuracy …]`
    (several tasks: each accuracy followed by the tasks', `accuracy 0.9 (digit 0.85, size 0.95)`)."""
    validation = (
        f", val_loss {record.val_loss:.4f}, val_accuracy {record.val_accuracy:.4f}{_per_task(record.val_task_accuracy)}"
        if record.val_loss is not None
        else ""
    )
    timing = f" in {record.seconds:.1f}s ({record.examples / record.seconds:.0f} examples/s)" if record.seconds > 0 else ""
    return (
        f"[retrain] torch epoch {record.epoch + 1} ({record.phase}){timing}: loss {record.loss:.4f}, "
        f"accuracy {record.accuracy:.4f}{_per_task(record.task_accuracy)}{validation}"
    )
