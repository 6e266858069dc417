"""Transformed TFRecords into PyTorch: an IterableDataset sharded over DataLoader workers and DDP ranks.

Reads the gzipped tf.Example TFRecords that Transform writes (the same files the TF
trainer reads), parses them with the transform graph's feature spec, and yields
(model input, label id) pairs; records whose label has no id are left out (`labelled`).
With several tasks it reads each task's `label_id__<task>` and yields (model input,
(label id of each task)); a record trains only when every task has a label id for it,
as in the TF trainer.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from retrain.components.training_core.features import LABEL_ID, MODEL_INPUT, labelled
from retrain.components.training_core.validation import check_split, validation_mask


def split_files(examples_uri: str, split: str) -> list[str]:
    """The TFRecord files of one split of an Examples artifact (`Split-<name>/*`)."""
    directory = os.path.join(examples_uri, f"Split-{split}")
    files = sorted(os.path.join(directory, name) for name in os.listdir(directory)) if os.path.isdir(directory) else []
    if not files:
        raise ValueError(f"no files for split '{split}' in {examples_uri}")
    return files


def shard_index(rank: int, world_size: int) -> tuple[int, int]:
    """(shard, number of shards) of this process and DataLoader worker: ranks times workers shards."""
    worker = get_worker_info()
    workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
    return rank * workers + worker_id, world_size * workers


class TransformedExamples(IterableDataset):
    """(model_input, label_id) of every labelled record in `files`, this shard's share only.

    `feature_spec` is the transformed feature spec (`TFTransformOutput.transformed_feature_spec()`).
    Image inputs come out as float32 arrays, text inputs as `str`. With several `label_features`
    (each task's `label_id__<task>`) the label is a tuple of their ids, and only records labelled
    for every one of them are yielded.
    """

    def __init__(
        self,
        files: list[str],
        feature_spec: Mapping[str, Any],
        rank: int = 0,
        world_size: int = 1,
        batch_size: int = 256,
        label_features: Sequence[str] = (LABEL_ID,),
    ) -> None:
        super().__init__()
        self.files, self.feature_spec = list(files), dict(feature_spec)
        self.rank, self.world_size, self.batch_size = rank, world_size, batch_size
        self.label_features = tuple(label_features)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        import tensorflow as tf

        shard, shards = shard_index(self.rank, self.world_size)
        dataset = tf.data.TFRecordDataset(self.files, compression_type="GZIP").shard(shards, shard)
        spec = {name: self.feature_spec[name] for name in (MODEL_INPUT, *self.label_features)}
        one = len(self.label_features) == 1
        for batch in dataset.batch(self.batch_size).map(lambda records: tf.io.parse_example(records, spec)):
            labels = np.stack([batch[name].numpy().reshape(-1) for name in self.label_features], axis=1)
            inputs = batch[MODEL_INPUT].numpy()
            for value, ids in zip(inputs, labels):
                if labelled(ids).all():
                    yield (
                        (value.decode("utf-8") if isinstance(value, bytes) else value.astype(np.float32)),
                        (int(ids[0]) if one else tuple(map(int, ids))),
                    )


def load_all(dataset: TransformedExamples, device: torch.device = torch.device("cpu")) -> tuple[Any, torch.Tensor]:
    """Every (input, label) of `dataset` in memory: a float tensor (images) or a list of strings (text), and labels ([N], or [N, tasks]).

    Read through a DataLoader (workers each read their shard); transfer-learning data sets fit in memory.
    """
    from torch.utils.data import DataLoader

    pairs = list(DataLoader(dataset, batch_size=None, **loader_settings(device)))
    if not pairs:
        shard = f" (shard {dataset.rank} of {dataset.world_size}: fewer records than training processes?)" if dataset.world_size > 1 else ""
        raise ValueError(f"no labelled records in {dataset.files[:3]}{shard}")
    inputs, labels = zip(*pairs)
    batch: Any = list(inputs) if isinstance(inputs[0], str) else torch.from_numpy(np.stack(inputs))
    return batch, torch.tensor(labels, dtype=torch.long)


def take(inputs: Any, index: torch.Tensor) -> Any:
    """The rows `index` of in-memory inputs: a list of strings (text) or a tensor (images)."""
    return [inputs[i] for i in index.tolist()] if isinstance(inputs, list) else inputs[index]


def carve_validation(data: tuple[Any, torch.Tensor], fraction: float, seed: int) -> tuple[tuple[Any, torch.Tensor], tuple[Any, torch.Tensor]]:
    """(train, validation) split of in-memory examples: the core's subset (`validation_mask`, by content), as the TF trainer's.

    ValueError (one line) when either part is empty.
    """
    inputs, labels = data
    mask = torch.from_numpy(validation_mask(inputs if isinstance(inputs, list) else inputs.numpy(), fraction, seed))
    check_split(int((~mask).sum()), int(mask.sum()), fraction)

    def part(keep: torch.Tensor) -> tuple[Any, torch.Tensor]:
        chosen = keep.nonzero().flatten()
        return take(inputs, chosen), labels[chosen]

    return part(~mask), part(mask)


def training_splits(
    train_files: list[str],
    eval_files: list[str],
    feature_spec: Mapping[str, Any],
    validation_fraction: float,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device = torch.device("cpu"),
    label_features: Sequence[str] = (LABEL_ID,),
) -> tuple[tuple[Any, torch.Tensor], tuple[Any, torch.Tensor]]:
    """(this rank's train shard, the whole validation set) in memory; labels of `label_features` (several: [N, tasks]).

    With `validation_fraction` > 0 the TF trainer's validation subset is carved out of
    all of train (by content, so the same on every rank) and the rest is dealt out to
    the ranks; otherwise each rank reads its shard of the train records and the eval
    split is the validation set (monitored only). Shards are disjoint and cover train.
    """
    if validation_fraction > 0:
        everything = load_all(TransformedExamples(train_files, feature_spec, label_features=label_features), device)
        train, validation = carve_validation(everything, validation_fraction, seed)
        shard = (train[0][rank::world_size], train[1][rank::world_size])
        if not len(shard[1]):
            raise ValueError(f"no training examples left for process {rank} of {world_size}: {len(train[1])} after carving out validation")
        return shard, validation
    return load_all(TransformedExamples(train_files, feature_spec, rank, world_size, label_features=label_features), device), load_all(
        TransformedExamples(eval_files, feature_spec, label_features=label_features), device
    )


def repeat_to(data: tuple[Any, torch.Tensor], count: int) -> tuple[Any, torch.Tensor]:
    """`data` extended to `count` examples by repeating its first ones (how DistributedSampler evens out shards).

    Every DDP rank must take the same number of steps, or the gradient all-reduce waits forever.
    """
    inputs, labels = data
    missing = count - len(labels)
    if missing <= 0:
        return data
    index = torch.arange(missing) % len(labels)
    extra = take(inputs, index)
    return (inputs + extra if isinstance(inputs, list) else torch.cat([inputs, extra])), torch.cat([labels, labels[index]])


def loader_settings(device: torch.device) -> dict[str, Any]:
    """DataLoader keyword arguments: pinned memory on GPU; worker processes share batches through /dev/shm.

    On Kubernetes give the pod a memory-backed `/dev/shm` volume when workers > 0.
    """
    count = min(4, os.cpu_count() or 1) if device.type == "cuda" else 0
    return {"num_workers": count, "pin_memory": device.type == "cuda", "persistent_workers": count > 0}
