"""The report's figures, drawn with matplotlib (no pyplot state) and returned as base64 PNG.

Every text is plain text (`text.parse_math` off): a class named `$x$` or `50$` is
drawn as written instead of failing in mathtext. Class names on axes are wrapped
and abbreviated (`tick_label`) and x labels turn upright when they would not fit
side by side, so any names stay readable.
"""

from __future__ import annotations

import base64
import functools
import io
import textwrap
from typing import Any, Callable, Optional, Sequence, TypeVar

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from retrain.pipelines.report.training import Curves

_DPI = 96
_MAX_INCHES = 14.0
_MAX_LABELLED = 40  # more classes than this: no per-class tick labels or cell annotations
_LABEL_WIDTH = 14  # characters per tick-label line
_LABEL_LINES = 2
_FONT_POINTS = 9
_CHAR_INCHES = 0.6 * _FONT_POINTS / 72  # about one character's width
_ELLIPSIS = "\u2026"

_Result = TypeVar("_Result")


def _plain_text(draw: Callable[..., _Result]) -> Callable[..., _Result]:
    """Draws with mathtext off: `$` in class names is just a character."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> _Result:
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper


def tick_label(name: str) -> str:
    """`name` wrapped at `_LABEL_WIDTH` characters (also inside long words), at most `_LABEL_LINES` lines, ending in an ellipsis when cut."""
    lines = textwrap.wrap(name, _LABEL_WIDTH, break_on_hyphens=True) or [name]
    if len(lines) > _LABEL_LINES:
        lines = lines[:_LABEL_LINES]
        lines[-1] = lines[-1][: _LABEL_WIDTH - 1] + _ELLIPSIS
    return "\n".join(lines)


def _label_axis(axes: Any, positions: Sequence[float], names: Sequence[str], slot_inches: float, y_too: bool) -> None:
    """Wrapped class names as tick labels; x labels upright (90 degrees) when they are wider than their slot."""
    labels = [tick_label(name) for name in names]
    widest = max((len(line) for label in labels for line in label.split("\n")), default=0) * _CHAR_INCHES
    turned = widest > slot_inches * 0.9
    axes.set_xticks(positions, labels=labels, fontsize=_FONT_POINTS, rotation=90 if turned else 0)
    if y_too:
        axes.set_yticks(positions, labels=labels, fontsize=_FONT_POINTS)


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@_plain_text
def curves_png(curves: Curves) -> str:
    """One panel per metric (loss first), one line per log directory (train, validation), over epochs."""
    metrics = sorted(curves, key=lambda name: (name != "loss", name))
    figure = Figure(figsize=(4.2 * len(metrics), 3.2))
    for index, metric in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), index + 1)
        for subset, points in sorted(curves[metric].items()):
            epochs, values = zip(*points)
            axes.plot(epochs, values, marker="." if len(points) < 40 else None, label=subset)
        axes.set_title(metric)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    return _png(figure)


@_plain_text
def confusion_png(counts: np.ndarray, names: Sequence[str], title: str) -> str:
    """Rows: actual class, columns: predicted class, cells annotated with their counts."""
    return _png(confusion_figure(counts, names, title))


@_plain_text
def confusion_figure(counts: np.ndarray, names: Sequence[str], title: str) -> Figure:
    """The confusion matrix as a figure (what `confusion_png` renders)."""
    size = min(_MAX_INCHES, max(3.5, 0.45 * len(names) + 2))
    figure = Figure(figsize=(size, size * 0.9))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if len(names) <= _MAX_LABELLED:
        _label_axis(axes, range(len(names)), names, (size - 1.5) / max(1, len(names)), y_too=True)
        threshold = counts.max() / 2 if counts.size else 0
        for (row, column), value in np.ndenumerate(counts):
            axes.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=8, color="white" if value > threshold else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(title)
    figure.tight_layout()
    return figure


@_plain_text
def per_class_png(names: Sequence[str], series: dict[str, Sequence[Optional[float]]]) -> str:
    """Grouped bars per class: one bar per series (e.g. `candidate precision`), missing values left out."""
    figure_width = min(_MAX_INCHES, max(5.0, 0.3 * len(names) * max(1, len(series)) + 2))
    figure = Figure(figsize=(figure_width, 3.4))
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(names))
    for index, (label, values) in enumerate(series.items()):
        heights = [np.nan if value is None else value for value in values]
        axes.bar(positions + (index - (len(series) - 1) / 2) * width, heights, width, label=label)
    if len(names) <= _MAX_LABELLED:
        _label_axis(axes, positions, names, (figure_width - 1.0) / max(1, len(names)), y_too=False)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8, ncols=min(4, max(1, len(series))), loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    figure.tight_layout()
    return _png(figure)
