"""`trainer_settings_for(config)`: the one place a RetrainConfig becomes the settings Transform, Tuner and both trainers receive."""

from __future__ import annotations

from retrain.components.trainer_settings import TrainerSettings
from retrain.pipelines.config import RetrainConfig


def trainer_settings_for(config: RetrainConfig) -> TrainerSettings:
    """Every `training` field under its own name, the effective learning rates, the task's inputs and both backbones
    (no per-task head layers: only the tuned hyperparameters set them).

    A `training` field that TrainerSettings lacks is refused (extra="forbid"), so none can be left out.
    """
    rates, backbone = config.effective_rates(), config.backbone
    return TrainerSettings.model_validate(
        {
            **config.training.model_dump(),
            "learning_rate": rates.learning_rate,
            "backbone_learning_rate_scale": rates.backbone_learning_rate_scale,
            "learning_rates_from": rates.source,
            "task_type": config.task.type,
            "input_feature": config.task.input_feature,
            "label_feature": config.task.label_feature,
            "task_labels": config.task.task_labels,
            "loss_weights": config.task.task_loss_weights,
            "task_hidden_units": (),  # every head has training.hidden_units until tuning gives each task its own depth
            "image_size": backbone.image_size,
            "channels": backbone.channels,
            "background": config.data.background_unit_rgb,
            "tf_backbone_handle": backbone.handle,
            "torch_checkpoint": None if backbone.torch_checkpoint is None else str(backbone.torch_checkpoint),
        }
    )
