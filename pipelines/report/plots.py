"""The report's figures, drawn with matplotlib (no pyplot state) and returned as base64 PNG."""
from __future__ import annotations

import base64
import io
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from pipelines.report.training import Curves

_DPI = 96
_MAX_INCHES = 14.0
_MAX_LABELLED = 40  # more classes than this: no per-class tick labels or cell annotations


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


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


def confusion_png(counts: np.ndarray, names: Sequence[str], title: str) -> str:
    """Rows: actual class, columns: predicted class, cells annotated with their counts."""
    size = min(_MAX_INCHES, max(3.5, 0.45 * len(names) + 2))
    figure = Figure(figsize=(size, size * 0.9))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if len(names) <= _MAX_LABELLED:
        axes.set_xticks(range(len(names)), labels=names, rotation=45 if len(names) > 8 else 0)
        axes.set_yticks(range(len(names)), labels=names)
        threshold = counts.max() / 2 if counts.size else 0
        for (row, column), value in np.ndenumerate(counts):
            axes.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=8, color="white" if value > threshold else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(title)
    figure.tight_layout()
    return _png(figure)


def per_class_png(names: Sequence[str], series: dict[str, Sequence[Optional[float]]]) -> str:
    """Grouped bars per class: one bar per series (e.g. `candidate precision`), missing values left out."""
    figure = Figure(figsize=(min(_MAX_INCHES, max(5.0, 0.3 * len(names) * max(1, len(series)) + 2)), 3.4))
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(names))
    for index, (label, values) in enumerate(series.items()):
        heights = [np.nan if value is None else value for value in values]
        axes.bar(positions + (index - (len(series) - 1) / 2) * width, heights, width, label=label)
    if len(names) <= _MAX_LABELLED:
        axes.set_xticks(positions, labels=names, rotation=45 if len(names) > 8 else 0)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8, ncols=min(4, max(1, len(series))), loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
    figure.tight_layout()
    return _png(figure)
