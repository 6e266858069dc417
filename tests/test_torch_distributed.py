"""PyTorch trainer under the elastic launcher: 2 Gloo processes on CPU against one process, on tiny separable data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.torch_trainer.data import repeat_to, training_splits
from retrain.components.torch_trainer.export import TORCHSCRIPT_FILE
from retrain.components.torch_trainer.launch import WorkerFailed, process_count
from retrain.components.torch_trainer.worker import TrainingJob, WorkerResult, run_training
from settings_data import settings as trainer_settings
from torch_records import feature_spec, save_backbone, write_records

TRAIN_RECORDS = 45  # odd: the two shards differ in size and the smaller one is padded
EVAL_RECORDS = 16
SETTINGS = {
    "task_type": "image_classification",
    "mode": "incremental",  # a head phase on cached embeddings, then a phase training the top block
    "epochs": 4,
    "fine_tune_epochs": 4,
    "unfreeze_blocks": 1,
    "batch_size": 16,
    "learning_rate": 0.05,
    "hidden_units": [],
    "dropout": 0.0,
    "backbone_train_mode": "training",  # BatchNorm statistics change, so identical final weights include buffers
    "seed": 7,
    "warm_start": False,
}


@pytest.fixture(scope="module", autouse=True)
def cpu_only():
    """Gloo on CPU even where GPUs are visible (the launched workers inherit the environment)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUDA_VISIBLE_DEVICES", "")
        yield


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torch_ddp")
    write_records(root / "train.tfrecord.gz", TRAIN_RECORDS, seed=0)
    write_records(root / "eval.tfrecord.gz", EVAL_RECORDS, seed=1)
    write_records(root / "one.tfrecord.gz", 1, seed=2)
    save_backbone(root / "backbone.pt")
    return root


def _job(layout: Path, name: str, train_file: str = "train.tfrecord.gz") -> TrainingJob:
    return TrainingJob(
        train_files=[str(layout / train_file)],
        eval_files=[str(layout / "eval.tfrecord.gz")],
        feature_spec=feature_spec(),
        settings=trainer_settings(**SETTINGS, torch_checkpoint=str(layout / "backbone.pt")),
        labels=["dark", "bright"],
        class_weights=None,
        label_smoothing=0.0,
        checkpoint_dir=str(layout / name / "checkpoints"),
        export_dir=str(layout / name / "export"),
    )


def _eval_accuracy(job: TrainingJob) -> float:
    _, (images, labels) = training_splits(job.train_files, job.eval_files, job.feature_spec, 0.0, 0)
    model = torch.jit.load(os.path.join(job.export_dir, TORCHSCRIPT_FILE))
    with torch.no_grad():
        return float((model(images).argmax(-1) == labels).float().mean())


@pytest.fixture(scope="module")
def single(layout: Path) -> tuple[TrainingJob, list[WorkerResult]]:
    job = _job(layout, "single")
    return job, run_training(job, processes=1)


@pytest.fixture(scope="module")
def distributed(layout: Path) -> tuple[TrainingJob, list[WorkerResult]]:
    job = _job(layout, "ddp")
    return job, run_training(job, processes=2)


def test_both_workers_end_with_identical_weights_and_rank_0_alone_exports(distributed) -> None:
    job, results = distributed
    assert [result.rank for result in results] == [0, 1]
    assert results[0].weights_digest == results[1].weights_digest
    assert [result.exported for result in results] == [True, False]
    assert sorted(os.listdir(job.export_dir)) == ["labels.json", "model.onnx", "model.pt", "settings.json", "state_dict.pt"]
    assert os.path.exists(os.path.join(job.checkpoint_dir, "checkpoint.pt")), "rank 0 checkpoints every epoch"


def test_each_worker_trains_on_its_own_disjoint_shard(layout: Path, distributed) -> None:
    job, results = distributed
    shards = [training_splits(job.train_files, job.eval_files, job.feature_spec, 0.0, 0, rank, 2)[0] for rank in (0, 1)]
    rows = [{image.numpy().tobytes() for image in shard[0]} for shard in shards]
    (everything, _), _ = training_splits(job.train_files, job.eval_files, job.feature_spec, 0.0, 0)
    assert not rows[0] & rows[1]
    assert rows[0] | rows[1] == {image.numpy().tobytes() for image in everything}
    assert [result.shard_examples for result in results] == [len(shard[1]) for shard in shards] == [23, 22]


def test_two_workers_reach_the_single_process_accuracy(single, distributed) -> None:
    single_accuracy, distributed_accuracy = _eval_accuracy(single[0]), _eval_accuracy(distributed[0])
    assert single_accuracy >= 0.9 and distributed_accuracy >= 0.9, (single_accuracy, distributed_accuracy)
    assert abs(single_accuracy - distributed_accuracy) <= 0.1


def test_a_failing_worker_is_one_clear_error(layout: Path) -> None:
    with pytest.raises(WorkerFailed, match=r"^training process 1 of 2 failed: ValueError: no labelled records in .*one\.tfrecord\.gz.*shard 1 of 2"):
        run_training(_job(layout, "failing", train_file="one.tfrecord.gz"), processes=2)


def test_shards_are_padded_to_the_same_length() -> None:
    inputs, labels = repeat_to((torch.arange(3.0), torch.tensor([0, 1, 2])), 5)
    assert inputs.tolist() == [0.0, 1.0, 2.0, 0.0, 1.0] and labels.tolist() == [0, 1, 2, 0, 1]
    assert repeat_to((["a", "b"], torch.tensor([0, 1])), 3)[0] == ["a", "b", "a"]


def test_process_count_follows_the_visible_gpus_unless_set() -> None:
    assert (process_count(None, 0), process_count(None, 4), process_count(2, 0), process_count(2, 4)) == (1, 4, 2, 2)
    with pytest.raises(ValueError, match="training.torch_processes is 3, but only 2 GPU"):
        process_count(3, 2)
