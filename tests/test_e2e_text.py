"""Text classification from CSV through the same pipeline: string-input Hub module, hash splits, raw-text serving."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
import tensorflow as tf

pytestmark = pytest.mark.e2e

POSITIVE = ["great", "excellent", "love", "wonderful", "perfect", "happy", "superb", "fine"]
NEGATIVE = ["awful", "terrible", "hate", "broken", "poor", "sad", "useless", "bad"]
FILLER = ["the", "product", "was", "really", "and", "shipping", "it", "is"]


class HashedBagOfWords(tf.keras.layers.Layer):
    """Lower-cased whitespace tokens hashed into buckets, embedded and averaged: a string-input encoder."""

    def __init__(self, buckets: int = 1024, dim: int = 64, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets, self.dim = buckets, dim

    def build(self, input_shape: tf.TensorShape) -> None:
        self.embeddings = self.add_weight(name="embeddings", shape=[self.buckets, self.dim], initializer="glorot_uniform")

    def call(self, text: tf.Tensor) -> tf.Tensor:
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(tf.strings.lower(text)), self.buckets)
        vectors = tf.ragged.map_flat_values(tf.gather, self.embeddings, ids)
        counts = tf.cast(tf.maximum(ids.row_lengths(), 1), tf.float32)[:, tf.newaxis]
        return tf.reduce_sum(vectors, axis=1) / counts


def _text_backbone(directory: Path) -> Path:
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape=(), dtype=tf.string)
    tf.saved_model.save(tf.keras.Model(inputs, HashedBagOfWords(name="encoder")(inputs)), str(directory))
    return directory


def _reviews(path: Path, rows: int) -> None:
    rng = random.Random(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        for index in range(rows):
            label, words = ("positive", POSITIVE) if index % 2 == 0 else ("negative", NEGATIVE)
            text = " ".join(rng.sample(FILLER, 2) + rng.sample(words, 3))
            writer.writerow([text.capitalize(), label])
        for index in range(3):
            writer.writerow([f"review without a label {index}", ""])
        for label in ("positive", "negative"):
            writer.writerow(["", label])


def test_csv_text_classification_end_to_end(tmp_path: Path, run_cli) -> None:
    _reviews(tmp_path / "data" / "reviews.csv", rows=200)
    backbone = _text_backbone(tmp_path / "text_backbone")
    (tmp_path / "config.yaml").write_text(
        "pipeline_name: reviews\n"
        "task: {type: text_classification, text_feature: review, label_feature: sentiment}\n"
        "data: {path: data, format: csv, eval_fraction: 0.3}\n"
        f"backbone: {{handle: {backbone}}}\n"
        "training: {epochs: 60, learning_rate: 0.05}\n"
        "labels: {on_problem: warn}\n"
        "evaluation: {min_accuracy: 0.9}\n"
        "push: {model_name: reviews}\n"
    )
    run = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "CsvExampleGen done in" in run.stdout
    assert "pushed model:" in run.stdout, run.stdout[-2000:]
    assert "classes: 2" in run.stdout
    warnings = [line for line in run.stdout.splitlines() if line.startswith("  label warning:")]
    blank_labels = sum(int(line.split()[2]) for line in warnings if "empty or whitespace label" in line)
    no_text = sum(int(line.split()[2]) for line in warnings if "no input feature value" in line)
    assert (blank_labels, no_text) == (3, 2), warnings

    model = tf.saved_model.load(str(tmp_path / "out" / "serving" / "reviews" / "1"))
    outputs = model.signatures["serving_raw"](review=tf.constant(["I love it superb and perfect", "Awful broken and useless"]))
    assert [name.decode() for name in outputs["predicted_class"].numpy()] == ["positive", "negative"]
    assert sorted(name.decode() for name in outputs["class_names"].numpy()[0]) == ["negative", "positive"]
