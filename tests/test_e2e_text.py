"""Text classification from CSV through the whole pipeline with the real pretrained MiniLM encoder.

The converted Hub module takes raw strings (WordPiece runs in-graph), so Transform
passes the text through, the trainer puts a head on `hub.KerasLayer`, and the pushed
model's raw-input signature serves class names and probabilities for plain strings.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the module's tokenizer before loading the pushed model)

from retrain.components.text_example import data as text_data
from retrain.components.text_example.prepare import TextExampleLayout

pytestmark = pytest.mark.e2e


def _messages_csv(path: Path) -> None:
    """The example's messages in one file (split by hash), plus rows the label preparation must flag."""
    path.parent.mkdir(parents=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "intent"])
        for messages in (text_data.train_messages(), text_data.eval_messages()):
            writer.writerows(zip(messages.texts, messages.labels))
        writer.writerows([f"a message without a label {index}", ""] for index in range(3))
        writer.writerows(["", label] for label in ("billing", "account"))


def test_csv_text_classification_with_minilm_end_to_end(tmp_path: Path, run_cli, text_example: TextExampleLayout) -> None:
    _messages_csv(tmp_path / "data" / "messages.csv")
    (tmp_path / "config.yaml").write_text(
        "pipeline_name: support\n"
        "task: {type: text_classification, text_feature: message, label_feature: intent}\n"
        "data: {path: data, format: csv, eval_fraction: 0.3}\n"
        f"backbone: {{handle: {text_example.backbone_dir}}}\n"
        "training: {epochs: 10, learning_rate: 0.1}\n"
        "labels: {on_problem: warn}\n"
        "evaluation: {min_accuracy: 0.85}\n"
        "push: {model_name: support}\n"
    )
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "CsvExampleGen done in" in run.stdout
    assert "pushed model:" in run.stdout, run.stdout[-2000:]
    assert "classes: 4" in run.stdout
    warnings = [line for line in run.stdout.splitlines() if line.startswith("  label warning:")]
    blank_labels = sum(int(line.split()[2]) for line in warnings if "empty or whitespace label" in line)
    no_text = sum(int(line.split()[2]) for line in warnings if "no input feature value" in line)
    assert (blank_labels, no_text) == (3, 2), warnings

    model = tf.saved_model.load(str(tmp_path / "out" / "serving" / "support" / "1"))
    unseen = ["I was overcharged on my last bill", "Where is my parcel?", "The app keeps crashing", "I can't sign in"]
    outputs = model.signatures["serving_raw"](message=tf.constant(unseen))
    assert [name.decode() for name in outputs["predicted_class"].numpy()] == ["billing", "delivery", "technical", "account"]
    assert sorted(name.decode() for name in outputs["class_names"].numpy()[0]) == sorted(text_data.LABELS)
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
