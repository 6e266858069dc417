"""Scheduled retraining on spans: each run ingests the newest span and trains on a rolling window."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.components.digits_example.prepare import ExampleLayout
from retrain.components.label_prep.label_map import load_label_map
from digits_records import write_digit_records
from retrain.pipelines.run_summary import open_store

pytestmark = pytest.mark.e2e
NAMES = {5: "five", 6: "six", 7: "seven"}


def _drop_span(root: Path, span: int, per_class: dict[int, int]) -> None:
    write_digit_records(root / f"span-{span}" / "train" / "part.tfrecord", per_class, NAMES, offset=10 * span)
    write_digit_records(root / f"span-{span}" / "eval" / "part.tfrecord", {d: 4 for d in per_class}, NAMES, offset=100 + 5 * span)


def _latest_train_counts(metadata: Path) -> dict[str, int]:
    store = open_store(metadata)
    latest = max(store.get_artifacts_by_type("retrain.LabelMap"), key=lambda artifact: artifact.id)
    return load_label_map(latest.uri).counts["train"]


def test_rolling_window_back_fills_spans_on_disk_then_rolls(tmp_path: Path, digits_example: ExampleLayout, run_cli) -> None:
    (tmp_path / "config.yaml").write_text(
        "pipeline_name: spans\n"
        "data: {path: data, train_pattern: 'span-{SPAN}/train/*', eval_pattern: 'span-{SPAN}/eval/*', span_window: 2}\n"
        f"backbone: {{handle: {digits_example.backbone_dir}}}\n"
        "training: {epochs: 2, mode: fine_tune}\n"
        "evaluation: {min_accuracy: 0.0, max_accuracy_drop: 1.0}\n"
    )
    metadata = tmp_path / "out" / "metadata.sqlite"
    for span, per_class in {0: {5: 2, 6: 2}, 1: {5: 3, 6: 3}, 2: {5: 4, 6: 4, 7: 4}}.items():
        _drop_span(tmp_path / "data", span, per_class)
    first = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "back-filling span 1" in first.stdout and "span 0" not in first.stdout  # span 0 is outside the window
    assert _latest_train_counts(metadata) == {"five": 7, "six": 7, "seven": 4}  # spans 1 + 2

    _drop_span(tmp_path / "data", 3, {5: 5, 6: 5, 7: 5})
    second = run_cli("run", "--config", "config.yaml", "--output", "out", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "back-filling" not in second.stdout  # span 2 was ingested by the first run
    assert _latest_train_counts(metadata) == {"five": 9, "six": 9, "seven": 9}  # spans 2 + 3
