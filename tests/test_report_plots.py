"""The report's figures: class names are plain text (never mathtext) and tick labels never overlap."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from retrain.pipelines.report import plots

SECTIONS = [f"section_{index}" for index in range(6)]
LONG = [
    f"{word} customer complaints about the delivery of parcels"
    for word in ("billing", "late", "lost", "damaged", "refund", "other", "address", "courier")
]
MATH = ["$x^2$", "price $5", "$unclosed", "a_b^c", r"\frac{1}{2}", "50% $$"]


def _tick_boxes(figure, axis: str) -> list:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    axes = figure.axes[0]
    labels = axes.get_xticklabels() if axis == "x" else axes.get_yticklabels()
    return [label.get_window_extent(renderer) for label in labels if label.get_text()]


@pytest.mark.parametrize("names", [SECTIONS, LONG, MATH], ids=["section_N", "long", "dollars"])
def test_confusion_tick_labels_do_not_overlap(names: list[str]) -> None:
    counts = np.arange(len(names) ** 2, dtype=float).reshape(len(names), len(names))
    figure = plots.confusion_figure(counts, names, "confusion matrix: candidate")
    for axis in ("x", "y"):
        boxes = _tick_boxes(figure, axis)
        assert len(boxes) == len(names)
        overlapping = [(a, b) for a, b in itertools.combinations(range(len(boxes)), 2) if boxes[a].overlaps(boxes[b])]
        assert overlapping == [], f"{axis} tick labels overlap: {[(names[a], names[b]) for a, b in overlapping]}"


def test_long_names_are_wrapped_and_abbreviated() -> None:
    label = plots.tick_label("billing customer complaints about the delivery of parcels")
    lines = label.split("\n")
    assert len(lines) == 2 and all(len(line) <= 14 for line in lines) and lines[-1].endswith("\u2026")
    assert plots.tick_label("section_3") == "section_3"


def test_class_names_with_dollar_signs_are_drawn_as_written() -> None:
    counts = np.eye(len(MATH))
    png = base64.b64decode(plots.confusion_png(counts, MATH, "confusion matrix: $candidate$"))
    assert png.startswith(b"\x89PNG")
    assert base64.b64decode(plots.per_class_png(MATH, {"candidate precision": [1.0] * len(MATH)})).startswith(b"\x89PNG")
    figure = plots.confusion_figure(counts, MATH, "t")
    _tick_boxes(figure, "x")
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == MATH
