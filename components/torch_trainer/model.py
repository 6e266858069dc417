"""The PyTorch transfer model: a pretrained backbone plus a new classification head (`Classifier`),
or one head per task on the shared backbone (`MultiTaskClassifier`, returning {task: logits}).

Backbones: a TorchScript file (images; NCHW float input in [0, 1], embedding
output), or a local Hugging Face directory (text; loaded with `local_files_only`,
pooled and normalised as its sentence-transformers config says, like the TF Hub
module `retrain export-hub-text` makes of it, and truncated where that module truncates).
Images arrive as the transformed NHWC floats the TF trainer sees and are permuted here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.blocks import DEFAULT_BLOCK_PATTERN, Block, named_blocks
from retrain.components.training_core.tasks import TaskHead as CoreTaskHead

IMAGE_TASK = "image_classification"


class TextEncoder(nn.Module):
    """A Hugging Face encoder with its tokenizer: list of strings -> pooled sentence embedding.

    Pooling (cls, mean, max, mean_sqrt_len) and L2 normalisation follow the checkpoint's
    sentence-transformers modules, as in the converted TF Hub module (mean without them).
    Texts are truncated to `max_length` tokens (default: the checkpoint's, as the converter's);
    the tokenizer keeps that length, so the exported one truncates alike.
    """

    def __init__(self, directory: str, max_length: Optional[int] = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        from retrain.components.hub_text.checkpoint import checkpoint_max_seq_length, pooling_spec

        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.encoder = AutoModel.from_pretrained(directory, local_files_only=True)
        self.max_length = checkpoint_max_seq_length(Path(directory)) if max_length is None else max_length
        self.tokenizer.model_max_length = self.max_length
        self.embedding_size = int(self.encoder.config.hidden_size)
        pooling = pooling_spec(Path(directory), self.embedding_size)
        self.pooling_mode, self.normalize = pooling.mode, pooling.normalize

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"))

    def embed_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        if self.pooling_mode == "cls":
            pooled = hidden[:, 0]
        elif self.pooling_mode == "max":
            pooled = (hidden + (1.0 - mask) * -1e9).amax(dim=1)
        elif self.pooling_mode == "mean":
            pooled = (hidden * mask).sum(dim=1) / counts
        else:  # mean_sqrt_len
            pooled = (hidden * mask).sum(dim=1) / counts.sqrt()
        return nn.functional.normalize(pooled, dim=-1, eps=1e-12) if self.normalize else pooled

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenize(texts)
        device = next(self.encoder.parameters()).device
        return self.embed_tokens(tokens["input_ids"].to(device), tokens["attention_mask"].to(device))


def load_backbone(checkpoint: str, task_type: str, tf_backbone_handle: Optional[str] = None) -> nn.Module:
    """Loads `backbone.torch_checkpoint`: a Hugging Face directory (text) or a TorchScript file (images).

    A text backbone truncates where the TF backbone `tf_backbone_handle` does when that is a
    converted module (`retrain export-hub-text` records its length), else at the checkpoint's
    sentence-transformers max_seq_length. Never unpickles: TorchScript archives and
    safetensors/`weights_only` checkpoints only.
    """
    if task_type != IMAGE_TASK:
        if not os.path.isfile(os.path.join(checkpoint, "config.json")):
            raise ValueError(f"backbone.torch_checkpoint: {checkpoint} is not a Hugging Face model directory (no config.json)")
        from retrain.components.hub_text.metadata import recorded_max_seq_length

        return TextEncoder(checkpoint, max_length=recorded_max_seq_length(tf_backbone_handle) if tf_backbone_handle else None)
    if not os.path.isfile(checkpoint):
        raise ValueError(f"backbone.torch_checkpoint: {checkpoint} is not a TorchScript file")
    return torch.jit.load(checkpoint, map_location="cpu")


def embedding_size(backbone: nn.Module, example: Any) -> int:
    """Width of the backbone's output, measured on one example (or read from the backbone)."""
    if hasattr(backbone, "embedding_size") and isinstance(backbone.embedding_size, int):
        return backbone.embedding_size
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        width = int(backbone(example).shape[-1])
    backbone.train(was_training)
    return width


def _head_layers(width: int, hidden_units: Sequence[int], dropout: float) -> tuple[nn.Sequential, int]:
    """Optional dense ReLU layers -> dropout (a head below its logits), and the width they end with."""
    layers: list[nn.Module] = []
    for units in hidden_units:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers), width


class TransferModel(nn.Module):
    """A pretrained backbone and what sits on it: embeds NHWC images (or a list of texts), then `head`."""

    def __init__(self, backbone: nn.Module, images: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.images = images

    def embed(self, inputs: Any) -> torch.Tensor:
        """Backbone embeddings of NHWC images (or of a list of texts)."""
        return self.backbone(inputs.permute(0, 3, 1, 2) if self.images else inputs)

    def head(self, embeddings: torch.Tensor) -> Any:
        """The layers after the backbone on `embeddings`: logits, or {task: logits} (each subclass's)."""
        raise NotImplementedError

    def head_module(self) -> nn.Module:
        """The layers after the backbone as one module, embeddings -> what `head` returns (trained alone on cached embeddings)."""
        raise NotImplementedError

    def forward(self, inputs: Any) -> Any:
        return self.head(self.embed(inputs))

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head_module().parameters())


class Classifier(TransferModel):
    """backbone -> optional dense ReLU layers -> dropout -> logits (the head), like the TF trainer's model."""

    def __init__(
        self, backbone: nn.Module, embedding_width: int, num_classes: int, hidden_units: Sequence[int] = (), dropout: float = 0.0, images: bool = True
    ) -> None:
        super().__init__(backbone, images)
        if num_classes < 2:
            raise ValueError(f"need at least 2 classes to train a classifier, got {num_classes}")
        self.hidden, width = _head_layers(embedding_width, hidden_units, dropout)
        self.logits = nn.Linear(width, num_classes)

    def head(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(embeddings))

    def head_module(self) -> nn.Module:
        return nn.Sequential(self.hidden, self.logits)


class Head(nn.Module):
    """One task's head: `Classifier`'s layers after the backbone."""

    def __init__(self, embedding_width: int, num_classes: int, hidden_units: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.hidden, width = _head_layers(embedding_width, hidden_units, dropout)
        self.logits = nn.Linear(width, num_classes)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(embeddings))


class TaskHeads(nn.ModuleDict):
    """One `Head` per task, in task order: embeddings -> {task: logits} (scriptable)."""

    def forward(self, embeddings: torch.Tensor) -> Dict[str, torch.Tensor]:
        logits: Dict[str, torch.Tensor] = {}
        for task, head in self.items():
            logits[task] = head(embeddings)
        return logits


class MultiTaskClassifier(TransferModel):
    """One shared backbone, one head per task (`heads.<task>.hidden`, `heads.<task>.logits`), like the TF trainer's multi-task model;
    a task's own `hidden_units` in place of the shared ones where it has them.

    Returns {task: logits} in task order.
    """

    def __init__(
        self,
        backbone: nn.Module,
        embedding_width: int,
        tasks: Sequence[CoreTaskHead],
        hidden_units: Sequence[int] = (),
        dropout: float = 0.0,
        images: bool = True,
    ) -> None:
        super().__init__(backbone, images)
        self.heads = TaskHeads({task.name: Head(embedding_width, task.num_classes, task.dense_layers(hidden_units), dropout) for task in tasks})

    def head(self, embeddings: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.heads(embeddings)

    def head_module(self) -> nn.Module:
        return self.heads


def parameter_blocks(backbone: nn.Module, pattern: str = DEFAULT_BLOCK_PATTERN) -> list[Block]:
    """Backbone parameters grouped by block number found in their names, bottom to top.

    The core's `named_blocks`, as the TF trainer groups; dots count as underscores, so
    `encoder.layer.3.attention` is block 3 and `block2_conv.weight` block 2.
    """
    return named_blocks(((name.replace(".", "_"), parameter) for name, parameter in backbone.named_parameters()), pattern)


def build_classifier(
    settings: TrainerSettings, num_classes: int, example: Any, backbone: Optional[nn.Module] = None, tasks: Sequence[CoreTaskHead] = ()
) -> TransferModel:
    """The classifier the trainer settings describe (`backbone` given, or loaded from `torch_checkpoint`).

    With several `tasks` (the plan's), one head per task on the shared backbone (`num_classes` is then the main task's).
    """
    torch.manual_seed(settings.seed)
    images = settings.task_type == IMAGE_TASK
    if backbone is None:
        if settings.torch_checkpoint is None:
            raise ValueError("trainer settings: torch_checkpoint is not set (backbone.name or backbone.torch_checkpoint)")
        backbone = load_backbone(settings.torch_checkpoint, settings.task_type, settings.tf_backbone_handle)
    width = embedding_size(backbone, example.permute(0, 3, 1, 2) if images else example)
    if len(tasks) > 1:
        return MultiTaskClassifier(backbone, width, tasks, hidden_units=settings.hidden_units, dropout=settings.dropout, images=images)
    return Classifier(backbone, width, num_classes, hidden_units=settings.hidden_units, dropout=settings.dropout, images=images)
