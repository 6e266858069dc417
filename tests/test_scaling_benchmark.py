"""pipeline_scaling's parts that need no pipeline run: stage times from the run's lines, growth, generated data."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from benchmarks.plain_pipeline import is_eval
from benchmarks.scaling import stage_seconds, worst_growth, write_text_csv


def test_stage_times_come_from_done_lines_and_cached_nodes_are_not_timed() -> None:
    stdout = "\n".join(
        [
            "[retrain] Trainer started",
            "[retrain] Trainer done in 22.5s",
            "[retrain] StatisticsGen done in 9.0s (cached)",
            "[retrain] Evaluator: 10/10 examples, 5 examples/s, ETA 0s",
            "[retrain] Evaluator done in 12.25s",
        ]
    )
    assert stage_seconds(stdout) == {"Trainer": 22.5, "Evaluator": 12.25}


def test_worst_growth_ignores_stages_too_short_to_measure() -> None:
    small = {"Transform": 10.0, "Trainer": 20.0, "resolver": 0.01}
    large = {"Transform": 95.0, "Trainer": 60.0, "resolver": 0.5}
    assert worst_growth(small, large) == ("Transform", 9.5)


def test_generated_messages_are_deterministic_and_balanced(tmp_path: Path) -> None:
    write_text_csv(tmp_path / "a.csv", 100)
    write_text_csv(tmp_path / "b.csv", 100)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    with (tmp_path / "a.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100 and set(Counter(row["label"] for row in rows).values()) == {20}
    assert len({row["text"] for row in rows}) > 95


def test_the_plain_scripts_split_holds_out_about_a_fifth() -> None:
    share = sum(is_eval(f"key-{index}") for index in range(5000)) / 5000
    assert 0.18 < share < 0.22
