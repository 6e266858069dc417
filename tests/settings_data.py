"""Trainer settings and training plans for tests that train outside the pipeline.

Production has no defaults here: the pipeline builds every field from the config
(pipelines/trainer_settings.py). These tests were written against the values below
(TrainingPlan's former defaults: 10 epochs, learning rate 1e-3, seed 0, ...), so they
are spelled out once here instead of in each test.
"""

from __future__ import annotations

from typing import Any

from retrain.components.trainer_settings import LABEL_VOCABULARY_KEY, AugmentationConfig, TrainerSettings, transform_custom_config
from retrain.components.training_core.blocks import DEFAULT_BLOCK_PATTERN
from retrain.components.training_core.plan import Augmentation, TrainingPlan

_PLAN = {
    "mode": "feature_extraction",
    "epochs": 10,
    "batch_size": 16,
    "learning_rate": 1e-3,
    "backbone_learning_rate_scale": 0.1,
    "unfreeze_blocks": 1,
    "layer_decay": 0.5,
    "fine_tune_epochs": 10,
    "block_pattern": DEFAULT_BLOCK_PATTERN,
    "seed": 0,
    "validation_fraction": 0.0,
    "early_stopping_patience": 0,
    "lr_schedule": "constant",
    "warmup_epochs": 0.0,
    "divergence_guard": True,
    "cpu_mixed_precision": False,
}

_SETTINGS = {
    **_PLAN,
    "task_type": "image_classification",
    "input_feature": "image",
    "label_feature": "label",
    "task_labels": ("label",),
    "loss_weights": (1.0,),
    "task_hidden_units": (),
    "image_size": (8, 8),
    "channels": 1,
    "background": (1.0, 1.0, 1.0),
    "tf_backbone_handle": None,
    "torch_checkpoint": None,
    "learning_rates_from": "config",
    "hidden_units": (),
    "dropout": 0.0,
    "backbone_train_mode": "inference",
    "warm_start": True,
    "augmentation": AugmentationConfig(),
    "mixed_precision": False,
    "torch_processes": None,
}


def plan(**fields: Any) -> TrainingPlan:
    """A TrainingPlan: the values above, `fields` in their place (no label smoothing, no augmentation unless given)."""
    return TrainingPlan(**{**_PLAN, "label_smoothing": 0.0, "augmentation": Augmentation(), **fields})


def settings(**fields: Any) -> TrainerSettings:
    """TrainerSettings of an 8x8 one-channel image task: the values above, `fields` in their place (validated)."""
    return TrainerSettings.model_validate({**_SETTINGS, **fields})


def transform_config(vocabulary: list[str], **inputs: Any) -> dict[str, Any]:
    """Transform's custom_config as LabelMappedTransform's executor hands it over: `settings(**inputs)`'s input part and `vocabulary`."""
    return {**transform_custom_config(settings(**inputs).inputs, "tests"), LABEL_VOCABULARY_KEY: vocabulary}
