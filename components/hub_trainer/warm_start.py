"""Warm start from the previous blessed model, expanding the head when the label map gained classes.

Label ids never move (see LabelPrep), so the old classifier's columns map onto the
first columns of the new one: old-class logits are unchanged before training and
only the rows of new classes start fresh.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import tensorflow as tf

from components.hub_trainer.model import LOGITS_LAYER


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


def _name(variable: tf.Variable) -> str:
    return variable.name.split(":")[0]


def _is_head_output(name: str) -> bool:
    return name in (f"{LOGITS_LAYER}/kernel", f"{LOGITS_LAYER}/bias")


def warm_start(model: tf.keras.Model, base_model_dir: str) -> WarmStartReport:
    """Copies every same-named, same-shaped variable of the SavedModel in `base_model_dir` into `model`.

    The classifier's kernel and bias may have more classes than the base model's:
    their leading columns are copied and the remaining ones keep their fresh values.
    """
    base = {_name(variable): variable for variable in tf.saved_model.load(base_model_dir).variables}
    report = WarmStartReport()
    for variable in model.weights:
        name = _name(variable)
        source = base.get(name)
        if source is None:
            report.skipped.append(name)
        elif source.shape == variable.shape:
            variable.assign(source)
            report.restored.append(name)
        elif _is_head_output(name) and source.shape[:-1] == variable.shape[:-1] and source.shape[-1] < variable.shape[-1]:
            old_classes = source.shape[-1]
            variable.assign(tf.concat([source, variable[..., old_classes:]], axis=-1))
            report.expanded.append(name)
        else:
            report.skipped.append(name)
    return report
