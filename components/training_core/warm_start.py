"""Warm start from the previous blessed model, expanding the head when the label map gained classes.

Label ids never move (see LabelPrep), so the old classifier's class slices map onto the
first ones of the new layer: old-class logits are unchanged before training and only
the new classes start fresh. Both trainers copy by this rule; each brings its own
variables and copy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Mapping


@dataclass
class WarmStartReport:
    """What was copied from the base model."""

    restored: list[str] = field(default_factory=list)
    expanded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"warm start: {len(self.restored)} variables restored, {len(self.expanded)} expanded for new classes, "
            f"{len(self.skipped)} left as initialised"
        )


def _expandable(source: tuple[int, ...], target: tuple[int, ...], class_axis: int) -> bool:
    """Same shape but fewer classes along `class_axis`."""
    if len(source) != len(target) or not target:
        return False
    axis = class_axis % len(target)
    return source[:axis] + source[axis + 1 :] == target[:axis] + target[axis + 1 :] and source[axis] < target[axis]


def copy_matching(
    targets: Iterable[tuple[str, Any]],
    sources: Mapping[str, Any],
    head_outputs: Collection[str],
    class_axis: int,
    restore: Callable[[Any, Any], Any],
    expand: Callable[[Any, Any], Any],
) -> WarmStartReport:
    """Copies every same-named, same-shaped source into its (name, target) with `restore(target, source)`.

    The head outputs (classifier weights and bias, named in `head_outputs`) may have more
    classes along `class_axis` than the source: `expand(target, source)` copies the leading
    classes and leaves the rest fresh. Anything else is skipped. Shapes are read as `.shape`.
    """
    report = WarmStartReport()
    for name, target in targets:
        source = sources.get(name)
        if source is None:
            report.skipped.append(name)
        elif tuple(source.shape) == tuple(target.shape):
            restore(target, source)
            report.restored.append(name)
        elif name in head_outputs and _expandable(tuple(source.shape), tuple(target.shape), class_axis):
            expand(target, source)
            report.expanded.append(name)
        else:
            report.skipped.append(name)
    return report
