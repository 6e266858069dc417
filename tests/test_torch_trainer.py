"""The PyTorch trainer library on tiny models: modes, BatchNorm policy, resume, exports, warm start, device plan."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.digits_example import data as digits
from retrain.components.digits_example.torch_backbone import DigitsCNN
from retrain.components.training_core.plan import TrainingPlan
from settings_data import plan as plan_of, settings as trainer_settings
from torch_records import save_tiny_bert
from retrain.components.torch_trainer import training
from retrain.components.torch_trainer.accelerate import Accelerator, usable_cpus
from retrain.components.torch_trainer.export import ONNX_FILE, TORCHSCRIPT_FILE, export_model
from retrain.components.torch_trainer.model import Classifier, parameter_blocks
from retrain.components.torch_trainer.training import CHECKPOINT_FILE, load_checkpoint, train_classifier
from retrain.components.torch_trainer.warm_start import warm_start

SETTINGS = trainer_settings(task_type="image_classification", image_size=(8, 8), channels=1)


@pytest.fixture(scope="module")
def few_digits() -> tuple[torch.Tensor, torch.Tensor]:
    target = digits.select_digits(digits.load_digits_images(), (5, 6, 7))
    train, _ = digits.few_shot_split(target, 8, seed=0)
    return torch.from_numpy(train.images), torch.from_numpy(np.searchsorted([5, 6, 7], train.labels))


def _classifier(seed: int = 0, num_classes: int = 3) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(DigitsCNN(), 128, num_classes, hidden_units=(16,), dropout=0.1)


def _plan(**overrides) -> TrainingPlan:
    return replace(plan_of(epochs=2, fine_tune_epochs=2, batch_size=8, learning_rate=1e-2, seed=3), **overrides)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {name for name, value in module.state_dict().items() if not torch.equal(before[name], value)}


def test_feature_extraction_trains_the_head_only(few_digits) -> None:
    model = _classifier()
    backbone, head = _snapshot(model.backbone), _snapshot(model.hidden)
    history = train_classifier(model, few_digits, _plan(mode="feature_extraction"))
    assert len(history) == 2 and history[-1].loss < history[0].loss
    assert _changed(backbone, model.backbone) == set(), "weights and BatchNorm statistics of the backbone are untouched"
    assert _changed(head, model.hidden) == set(head)


def test_incremental_changes_only_the_top_blocks(few_digits) -> None:
    model = _classifier()
    before = _snapshot(model.backbone)
    train_classifier(model, few_digits, _plan(mode="incremental", unfreeze_blocks=1), backbone_train_mode="inference")
    assert _changed(before, model.backbone) == {"block3_conv.weight", "block3_bn.weight", "block3_bn.bias"}


def test_batchnorm_train_policy_updates_statistics_while_the_backbone_trains(few_digits) -> None:
    model = _classifier()
    before = _snapshot(model.backbone)
    train_classifier(model, few_digits, _plan(mode="incremental", unfreeze_blocks=2), backbone_train_mode="training")
    changed = _changed(before, model.backbone)
    assert {"block1_bn.running_mean", "block3_bn.running_var"} <= changed, "like the Hub layer called with training=True"
    assert not {"block1_conv.weight", "block1_bn.weight", "block1_bn.bias"} & changed


def test_blocks_follow_the_tf_block_pattern() -> None:
    blocks = parameter_blocks(DigitsCNN())
    assert [block.name for block in blocks] == ["block1", "block2", "block3"]
    assert (
        parameter_blocks(torch.nn.ModuleDict({"encoder": torch.nn.ModuleDict({"layer": torch.nn.ModuleList([torch.nn.Linear(2, 2)] * 1)})}))[0].name
        == "block0"
    )


def test_resume_after_interruption_matches_an_uninterrupted_run(few_digits, tmp_path: Path) -> None:
    plan = _plan(mode="incremental", unfreeze_blocks=1, lr_schedule="cosine", warmup_epochs=1.0)
    reference = _classifier()
    train_classifier(reference, few_digits, plan, validation=few_digits)

    class Interrupted(Exception):
        pass

    def crash_after_third_epoch(record) -> None:
        if record.epoch == 2:
            raise Interrupted

    interrupted = _classifier()
    with pytest.raises(Interrupted):
        train_classifier(interrupted, few_digits, plan, validation=few_digits, checkpoint_dir=str(tmp_path), on_epoch_end=crash_after_third_epoch)
    resumed = _classifier(seed=99)  # different initial weights: everything must come from the checkpoint
    history = train_classifier(resumed, few_digits, plan, validation=few_digits, checkpoint_dir=str(tmp_path))
    assert [record.epoch for record in history] == [0, 1, 2, 3]
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=1e-6, msg=name)


def test_early_stopping_restores_the_best_epoch(few_digits) -> None:
    model = _classifier()
    history = train_classifier(model, few_digits, _plan(epochs=30, early_stopping_patience=2, learning_rate=0.5), validation=few_digits)
    best = max(record.val_accuracy for record in history)
    assert len(history) < 30
    model.eval()
    with torch.no_grad():
        accuracy = float((model(few_digits[0]).argmax(-1) == few_digits[1]).float().mean())
    assert accuracy == pytest.approx(best)


@pytest.mark.parametrize("backbone_format", ["module", "torchscript_file"])
def test_torchscript_and_onnx_match_the_eager_model(few_digits, tmp_path: Path, backbone_format: str) -> None:
    import onnxruntime

    model = _classifier()
    if backbone_format == "torchscript_file":  # what the pipeline loads from backbone.torch_checkpoint
        torch.jit.save(torch.jit.script(model.backbone), str(tmp_path / "backbone.pt"))
        model.backbone = torch.jit.load(str(tmp_path / "backbone.pt"))
    train_classifier(model, few_digits, _plan(epochs=1))
    export_model(model, few_digits[0][:2], ["five", "six", "seven"], SETTINGS, str(tmp_path))
    images = few_digits[0][:10]
    model.eval()
    with torch.no_grad():
        eager = torch.softmax(model(images), -1).numpy()
        scripted = torch.jit.load(str(tmp_path / TORCHSCRIPT_FILE))(images).numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / ONNX_FILE), providers=["CPUExecutionProvider"])
    onnx = session.run(["probabilities"], {"images": images.numpy()})[0]
    np.testing.assert_allclose(scripted, eager, atol=1e-4)
    np.testing.assert_allclose(onnx, eager, atol=1e-4)


def test_warm_start_keeps_old_class_logits_and_adds_new_rows(few_digits, tmp_path: Path) -> None:
    old = _classifier(num_classes=3)
    export_model(old, few_digits[0][:2], ["five", "six", "seven"], SETTINGS, str(tmp_path))
    new = _classifier(seed=5, num_classes=4)
    report = warm_start(new, str(tmp_path))
    assert report.expanded == ["logits.weight", "logits.bias"] and not report.skipped
    old.eval(), new.eval()
    with torch.no_grad():
        torch.testing.assert_close(new(few_digits[0][:4])[:, :3], old(few_digits[0][:4]))


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled")
def test_accelerator_plan() -> None:
    cpu = Accelerator.detect(mixed_precision=True, env={}, cuda_available=False, cpu_bf16=True)
    assert cpu.device.type == "cpu" and cpu.autocast_dtype is None and cpu.is_main_process
    cpu_bf16 = Accelerator.detect(cpu_mixed_precision=True, env={}, cuda_available=False, cpu_bf16=True)
    assert (cpu_bf16.device.type, cpu_bf16.autocast_dtype, cpu_bf16.scaler) == ("cpu", torch.bfloat16, None)
    assert Accelerator.detect(cpu_mixed_precision=True, env={}, cuda_available=False, cpu_bf16=False).autocast_dtype is None
    with cpu_bf16.autocast():
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.bfloat16
    bf16 = Accelerator.detect(mixed_precision=True, env={"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "1"}, cuda_available=True, bf16_supported=True)
    assert (bf16.device, bf16.autocast_dtype, bf16.scaler, bf16.world_size, bf16.is_main_process) == (
        torch.device("cuda", 1),
        torch.bfloat16,
        None,
        4,
        False,
    )
    fp16 = Accelerator.detect(mixed_precision=True, env={}, cuda_available=True, bf16_supported=False)
    assert fp16.autocast_dtype == torch.float16 and fp16.scaler is not None
    assert Accelerator.detect(mixed_precision=False, env={}, cuda_available=True).autocast_dtype is None
    workers = Accelerator.detect(env={"WORLD_SIZE": "2", "RANK": "1"}, cuda_available=False)
    assert workers.distributed and workers.cpu_threads == max(1, usable_cpus() // 2)
    assert cpu.cpu_threads == usable_cpus()


@pytest.mark.parametrize(
    "cpu_max, expected",
    [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1), ("400000 100000", None), ("garbage", None)],
)
def test_usable_cpus_honours_a_cgroup_quota(tmp_path, cpu_max, expected) -> None:
    affinity = len(os.sched_getaffinity(0))
    quota_file = tmp_path / "cpu.max"
    quota_file.write_text(cpu_max + "\n")
    assert usable_cpus(str(quota_file)) == min(affinity, expected or affinity)
    assert usable_cpus(str(tmp_path / "missing")) == affinity


def test_torch_backbone_has_the_hub_module_weights(digits_example) -> None:
    import tensorflow as tf

    images = digits.load_digits_images().images[:64]
    hub_embeddings = tf.saved_model.load(str(digits_example.backbone_dir))(images, training=False).numpy()
    backbone = torch.jit.load(str(digits_example.torch_backbone_path)).eval()
    with torch.no_grad():
        torch_embeddings = backbone(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    # The tolerance means something only for embeddings that vary well above it between images.
    assert hub_embeddings.std(axis=0).mean() > 100 * 1e-4
    np.testing.assert_allclose(torch_embeddings, hub_embeddings, atol=1e-4)


def test_text_backbone_from_a_local_hugging_face_directory(tmp_path: Path) -> None:
    import onnxruntime

    from retrain.components.torch_evaluator.predictions import predict_probabilities
    from retrain.components.torch_trainer.model import build_classifier

    (tmp_path / "bert").mkdir()
    save_tiny_bert(tmp_path / "bert")
    texts = ["good movie", "great film", "nice film", "bad movie", "awful film", "terrible movie"] * 3
    labels = torch.tensor([0, 0, 0, 1, 1, 1] * 3)
    model = build_classifier(trainer_settings(task_type="text_classification", torch_checkpoint=str(tmp_path / "bert"), seed=0), 2, example=texts[:1])
    assert [block.name for block in parameter_blocks(model.backbone)] == ["stem", "block0", "block1"]
    before = _snapshot(model.backbone)
    train_classifier(model, (texts, labels), _plan(mode="incremental", unfreeze_blocks=1, batch_size=4))
    changed = _changed(before, model.backbone)
    assert changed and all(".layer.1." in name for name in changed), "only the top encoder layer trained"
    export_model(model, texts[:2], ["positive", "negative"], trainer_settings(task_type="text_classification"), str(tmp_path / "export"))
    model.eval()
    with torch.no_grad():
        eager = torch.softmax(model(texts[:5]), -1).numpy()
    np.testing.assert_allclose(predict_probabilities(str(tmp_path / "export"), texts[:5]), eager, atol=1e-4)
    tokens = model.backbone.tokenize(texts[:5])
    session = onnxruntime.InferenceSession(str(tmp_path / "export" / ONNX_FILE), providers=["CPUExecutionProvider"])
    onnx = session.run(["probabilities"], {"input_ids": tokens["input_ids"].numpy(), "attention_mask": tokens["attention_mask"].numpy()})[0]
    np.testing.assert_allclose(onnx, eager, atol=1e-4)


def test_config_selects_the_trainer_and_its_backbone(tmp_path: Path) -> None:
    from retrain.pipelines.config import ConfigError, RetrainConfig, config_from_dict

    assert RetrainConfig().trainer == "tf"
    config = config_from_dict({"trainer": "torch", "data": {"path": "data"}, "backbone": {"torch_checkpoint": "backbone.pt"}}, tmp_path)
    assert config.backbone.torch_checkpoint == (tmp_path / "backbone.pt").resolve() and config.backbone.handle is None
    with pytest.raises(ConfigError, match="backbone.torch_checkpoint is required for trainer: both"):
        config_from_dict({"trainer": "both", "data": {"path": "data"}, "backbone": {"handle": "hub"}}, tmp_path)
    with pytest.raises(ConfigError, match="trainer"):
        config_from_dict({"trainer": "jax"}, tmp_path)
    assert RetrainConfig().training.torch_processes is None, "default: one process per visible GPU, 1 on CPU"
    with pytest.raises(ConfigError, match="training.torch_processes"):
        config_from_dict({"training": {"torch_processes": 0}}, tmp_path)


def test_fused_adam_trains_like_the_per_parameter_one(few_digits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(mode="fine_tune", backbone_learning_rate_scale=0.1)
    fused = _classifier()
    history = train_classifier(fused, few_digits, plan, validation=few_digits, checkpoint_dir=str(tmp_path))
    assert all(group["fused"] for group in load_checkpoint(str(tmp_path / CHECKPOINT_FILE))["optimizer"]["param_groups"])
    monkeypatch.setattr(training, "FUSED_ADAM_DEVICES", ())
    reference = _classifier()
    reference_history = train_classifier(reference, few_digits, plan, validation=few_digits)
    assert [record.val_accuracy for record in history] == [record.val_accuracy for record in reference_history]
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(fused.state_dict()[name], value, rtol=0, atol=1e-5, msg=name)
