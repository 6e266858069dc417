"""Exports a trained PyTorch classifier: TorchScript and ONNX of the whole model, state dict, label names.

Layout of the model directory (`<Model artifact>/Format-Serving/`):
- `model.pt`: TorchScript, inputs -> class probabilities;
- `model.onnx`: the same graph for ONNX Runtime (dynamic batch axis);
- `state_dict.pt`: the weights (load with `torch.load(..., weights_only=True)`), used for warm starts;
- `labels.json`: class names in label-id order; `settings.json`: the trainer settings it was built with;
- text models also hold `tokenizer/`; their exported inputs are `input_ids` and `attention_mask`.
Image inputs are NHWC float32 in [0, 1], exactly Transform's `model_input`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import torch
from torch import nn

from retrain.components.torch_trainer.model import Classifier, TextEncoder
from retrain.components.trainer_settings import TrainerSettings

TORCHSCRIPT_FILE = "model.pt"
ONNX_FILE = "model.onnx"
STATE_DICT_FILE = "state_dict.pt"
LABELS_FILE = "labels.json"
SETTINGS_FILE = "settings.json"
TOKENIZER_DIR = "tokenizer"


class ImageProbabilities(nn.Module):
    """NHWC images -> softmax probabilities; scriptable, so a TorchScript backbone can be inside."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.backbone, self.hidden, self.logits = classifier.backbone, classifier.hidden, classifier.logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(self.hidden(self.backbone(images.permute(0, 3, 1, 2)))), dim=-1)


class TokenProbabilities(nn.Module):
    """Token ids and attention mask -> softmax probabilities (tokenize with the saved tokenizer)."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        encoder: TextEncoder = self.classifier.backbone
        return torch.softmax(self.classifier.head(encoder.embed_tokens(input_ids, attention_mask)), dim=-1)


def _torchscript(classifier: Classifier, example: Any) -> tuple[torch.jit.ScriptModule, tuple[torch.Tensor, ...], list[str]]:
    """The whole model as TorchScript (images: scripted; text: traced), its example inputs and their names."""
    if classifier.images:
        return torch.jit.script(ImageProbabilities(classifier)), (example[:2].float(),), ["images"]
    tokens = classifier.backbone.tokenize(list(example[:2]))
    inputs = (tokens["input_ids"], tokens["attention_mask"])
    return torch.jit.trace(TokenProbabilities(classifier), inputs, check_trace=False), inputs, ["input_ids", "attention_mask"]


def export_model(classifier: Classifier, example: Any, class_names: Sequence[str], settings: TrainerSettings, directory: str) -> None:
    """Writes every export format of `classifier` into `directory` (`example`: a few inputs, for tracing)."""
    os.makedirs(directory, exist_ok=True)
    classifier = classifier.to("cpu").eval()
    with torch.no_grad():
        scripted, inputs, names = _torchscript(classifier, example)
        torch.jit.save(scripted, os.path.join(directory, TORCHSCRIPT_FILE))
        dynamic = {name: ({0: "batch"} if classifier.images else {0: "batch", 1: "tokens"}) for name in names}
        torch.onnx.export(
            scripted,
            inputs,
            os.path.join(directory, ONNX_FILE),
            input_names=names,
            output_names=["probabilities"],
            dynamic_axes={**dynamic, "probabilities": {0: "batch"}},
            dynamo=False,
            opset_version=17,
        )
    torch.save(classifier.state_dict(), os.path.join(directory, STATE_DICT_FILE))
    if not classifier.images:
        classifier.backbone.tokenizer.save_pretrained(os.path.join(directory, TOKENIZER_DIR))
    with open(os.path.join(directory, LABELS_FILE), "w") as handle:
        json.dump(list(class_names), handle)
    with open(os.path.join(directory, SETTINGS_FILE), "w") as handle:
        json.dump(settings.model_dump(mode="json"), handle, indent=2, sort_keys=True)


def load_state_dict(directory: str) -> dict[str, torch.Tensor]:
    """The exported weights, read with `weights_only=True`."""
    return torch.load(os.path.join(directory, STATE_DICT_FILE), map_location="cpu", weights_only=True)
