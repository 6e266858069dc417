"""Exports a trained PyTorch classifier: TorchScript and ONNX of the whole model, state dict, label names.

Layout of the model directory (`<Model artifact>/Format-Serving/`):
- `model.pt`: TorchScript, inputs -> class probabilities;
- `model.onnx`: the same graph for ONNX Runtime (dynamic batch axis), output `probabilities`;
- `state_dict.pt`: the weights (load with `torch.load(..., weights_only=True)`), used for warm starts;
- `labels.json`: class names in label-id order; `settings.json`: the trainer settings it was built with;
- text models also hold `tokenizer/`; their exported inputs are `input_ids` and `attention_mask`.
Image inputs are NHWC float32 in [0, 1], exactly Transform's `model_input`.

With several tasks (a `MultiTaskClassifier`): `model.pt` returns a dict {task: probabilities} in
task order; `model.onnx` has one output per task, `probabilities__<task>` (ONNX has no dict
outputs); `labels.json` holds the main task's classes and `task_labels.json` every task's,
{task: classes in id order}. A one-task export has no `task_labels.json`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Sequence, Union

import torch
from torch import nn

from retrain.components.torch_trainer.model import Classifier, MultiTaskClassifier, TextEncoder, TransferModel
from retrain.components.trainer_settings import TrainerSettings
from retrain.components.training_core.tasks import task_feature

TORCHSCRIPT_FILE = "model.pt"
ONNX_FILE = "model.onnx"
STATE_DICT_FILE = "state_dict.pt"
LABELS_FILE = "labels.json"
TASK_LABELS_FILE = "task_labels.json"
PROBABILITIES = "probabilities"  # the ONNX output (several tasks: `probabilities__<task>`)
SETTINGS_FILE = "settings.json"
TOKENIZER_DIR = "tokenizer"


class ImageProbabilities(nn.Module):
    """NHWC images -> softmax probabilities; scriptable, so a TorchScript backbone can be inside."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.backbone, self.hidden, self.logits = classifier.backbone, classifier.hidden, classifier.logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(self.hidden(self.backbone(images.permute(0, 3, 1, 2)))), dim=-1)


class ImageTaskProbabilities(nn.Module):
    """NHWC images -> {task: softmax probabilities} of a multi-task classifier; scriptable."""

    def __init__(self, classifier: MultiTaskClassifier) -> None:
        super().__init__()
        self.backbone, self.heads = classifier.backbone, classifier.heads

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        probabilities: Dict[str, torch.Tensor] = {}
        for task, logits in self.heads(self.backbone(images.permute(0, 3, 1, 2))).items():
            probabilities[task] = torch.softmax(logits, dim=-1)
        return probabilities


class TokenProbabilities(nn.Module):
    """Token ids and attention mask -> softmax probabilities, {task: probabilities} with several tasks (tokenize with the saved tokenizer)."""

    def __init__(self, classifier: TransferModel) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        encoder: TextEncoder = self.classifier.backbone
        logits = self.classifier.head(encoder.embed_tokens(input_ids, attention_mask))
        if isinstance(logits, dict):
            return {task: torch.softmax(values, dim=-1) for task, values in logits.items()}
        return torch.softmax(logits, dim=-1)


class TaskOutputs(nn.Module):
    """A multi-task probabilities module with its outputs as a tuple in task order (what ONNX export takes)."""

    def __init__(self, probabilities: nn.Module, tasks: Sequence[str]) -> None:
        super().__init__()
        self.probabilities, self.tasks = probabilities, list(tasks)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.probabilities(*inputs)
        return tuple(outputs[task] for task in self.tasks)


def _probabilities(classifier: TransferModel) -> nn.Module:
    """The whole model, inputs -> probabilities (or {task: probabilities}), as an eager module."""
    if not classifier.images:
        return TokenProbabilities(classifier)
    return ImageTaskProbabilities(classifier) if isinstance(classifier, MultiTaskClassifier) else ImageProbabilities(classifier)


def _onnx_task_outputs(classifier: MultiTaskClassifier, tasks: Sequence[str], inputs: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    """The multi-task model traced with a tuple of outputs in task order, for ONNX export (ONNX has no dict outputs).

    Traced first: the exporter's own trace refuses a TorchScript backbone inside an eager module.
    """
    return torch.jit.trace(TaskOutputs(_probabilities(classifier), tasks).eval(), inputs, check_trace=False)


def _torchscript(classifier: TransferModel, example: Any) -> tuple[torch.jit.ScriptModule, tuple[torch.Tensor, ...], list[str]]:
    """The whole model as TorchScript (images: scripted; text: traced), its example inputs and their names."""
    if classifier.images:
        return torch.jit.script(_probabilities(classifier)), (example[:2].float(),), ["images"]
    tokens = classifier.backbone.tokenize(list(example[:2]))
    inputs = (tokens["input_ids"], tokens["attention_mask"])
    several = isinstance(classifier, MultiTaskClassifier)
    return torch.jit.trace(_probabilities(classifier), inputs, check_trace=False, strict=not several), inputs, ["input_ids", "attention_mask"]


def export_model(
    classifier: TransferModel,
    example: Any,
    class_names: Union[Sequence[str], Mapping[str, Sequence[str]]],
    settings: TrainerSettings,
    directory: str,
) -> None:
    """Writes every export format of `classifier` into `directory` (`example`: a few inputs, for tracing).

    `class_names`: the classes in id order; with several tasks (a MultiTaskClassifier), {task: classes}.
    """
    os.makedirs(directory, exist_ok=True)
    classifier = classifier.to("cpu").eval()
    tasks = list(classifier.heads) if isinstance(classifier, MultiTaskClassifier) else []
    if isinstance(class_names, Mapping) != bool(tasks) or (tasks and list(class_names) != tasks):
        raise ValueError(f"class names {list(class_names)} do not fit the model's task heads {tasks or 'one head'}")
    with torch.no_grad():
        scripted, inputs, names = _torchscript(classifier, example)
        torch.jit.save(scripted, os.path.join(directory, TORCHSCRIPT_FILE))
        outputs = [task_feature(PROBABILITIES, task) for task in tasks] or [PROBABILITIES]
        dynamic = {name: ({0: "batch"} if classifier.images else {0: "batch", 1: "tokens"}) for name in names}
        torch.onnx.export(
            _onnx_task_outputs(classifier, tasks, inputs) if tasks else scripted,
            inputs,
            os.path.join(directory, ONNX_FILE),
            input_names=names,
            output_names=outputs,
            dynamic_axes={**dynamic, **{output: {0: "batch"} for output in outputs}},
            dynamo=False,
            opset_version=17,
        )
    torch.save(classifier.state_dict(), os.path.join(directory, STATE_DICT_FILE))
    if not classifier.images:
        classifier.backbone.tokenizer.save_pretrained(os.path.join(directory, TOKENIZER_DIR))
    main_classes = class_names[tasks[0]] if tasks else class_names
    with open(os.path.join(directory, LABELS_FILE), "w") as handle:
        json.dump(list(main_classes), handle)
    if tasks:
        with open(os.path.join(directory, TASK_LABELS_FILE), "w") as handle:
            json.dump({task: list(names) for task, names in class_names.items()}, handle)
    with open(os.path.join(directory, SETTINGS_FILE), "w") as handle:
        json.dump(settings.model_dump(mode="json"), handle, indent=2, sort_keys=True)


def load_state_dict(directory: str) -> dict[str, torch.Tensor]:
    """The exported weights, read with `weights_only=True`."""
    return torch.load(os.path.join(directory, STATE_DICT_FILE), map_location="cpu", weights_only=True)
