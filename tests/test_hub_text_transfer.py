"""The converted MiniLM really transfers: fine-tuning it beats the same architecture from random initialisation.

Same tokenizer, same layers, same head, same recipe (the Hub trainer's `fine_tune`
mode), same 40 training messages; the eval messages are worded differently, so
only an encoder that knows what words mean does well on them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the module's tokenizer)

from retrain.components.hub_text.export import export_hub_text_module
from retrain.components.hub_trainer.model import build_classifier
from retrain.components.hub_trainer.training import train_classifier
from retrain.components.training_core.plan import TrainingPlan
from settings_data import plan as plan_of
from retrain.components.text_example import data as text_data
from retrain.components.text_example.prepare import MAX_SEQ_LENGTH, TextExampleLayout, minilm_checkpoint_dir

PLAN = plan_of(mode="fine_tune", epochs=4, learning_rate=1e-3, backbone_learning_rate_scale=0.1)
SCRATCH_PLAN = replace(PLAN, divergence_guard=False)  # a random encoder may well predict one class: that is what is measured


def _arrays(messages: text_data.LabelledTexts) -> tuple[np.ndarray, np.ndarray]:
    ids = [text_data.LABELS.index(label) for label in messages.labels]
    return np.array(messages.texts, dtype=object), np.eye(len(text_data.LABELS), dtype=np.float32)[ids]


def _fine_tuned_accuracy(handle: Path, plan: TrainingPlan) -> float:
    x_train, y_train = _arrays(text_data.train_messages())
    x_eval, y_eval = _arrays(text_data.eval_messages())
    model = build_classifier(str(handle), (), tf.string, len(text_data.LABELS), dropout=0.1, trainable_backbone=True, seed=42)
    train_classifier(model, (x_train, y_train), plan, batch_size=16, verbose=0)
    predicted = model.predict(x_eval, batch_size=64, verbose=0).argmax(axis=1)
    return float((predicted == y_eval.argmax(axis=1)).mean())


def test_pretrained_minilm_beats_random_initialisation(tmp_path: Path, text_example: TextExampleLayout) -> None:
    scratch = export_hub_text_module(minilm_checkpoint_dir(), tmp_path / "scratch", MAX_SEQ_LENGTH, pretrained=False, seed=0)
    pretrained_accuracy = _fine_tuned_accuracy(text_example.backbone_dir, PLAN)
    scratch_accuracy = _fine_tuned_accuracy(scratch, SCRATCH_PLAN)
    print(f"eval accuracy after fine-tuning: pretrained {pretrained_accuracy:.3f}, random init {scratch_accuracy:.3f}")
    assert pretrained_accuracy >= 0.85
    assert pretrained_accuracy - scratch_accuracy >= 0.3
