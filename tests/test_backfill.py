"""Which spans a run back-fills: spans on disk as TFX parses them, minus those already ingested."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.pipelines.backfill import spans_on_disk, spans_to_backfill


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_spans_on_disk_are_those_every_split_has(tmp_path: Path) -> None:
    for span in (1, 2, 10):
        _touch(tmp_path / f"span-{span:02d}" / "train" / "a.tfrecord")
    for span in (2, 10):
        _touch(tmp_path / f"span-{span:02d}" / "eval" / "a.tfrecord")
    patterns = ["span-{SPAN:2}/train/*", "span-{SPAN:2}/eval/*"]
    assert spans_on_disk(str(tmp_path), patterns) == [2, 10]  # span 1 has no eval split yet
    assert spans_on_disk(str(tmp_path), ["span-{SPAN:2}/train/*"]) == [1, 2, 10]
    assert spans_on_disk(str(tmp_path), ["*/train/*"]) == []  # no span spec: nothing to back-fill


@pytest.mark.parametrize(
    ("on_disk", "ingested", "window", "expected"),
    [
        ([1, 2, 3, 4], set(), 3, [2, 3]),  # first run: the newest (4) is the run's own
        ([1, 2, 3, 4], {2}, 3, [3]),
        ([1, 2, 3, 4], {2, 3}, 3, []),
        ([4], set(), 3, []),
        ([1, 2], set(), 5, [1]),
    ],
)
def test_spans_to_backfill(on_disk: list[int], ingested: set[int], window: int, expected: list[int]) -> None:
    assert spans_to_backfill(on_disk, ingested, window) == expected
