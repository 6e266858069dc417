"""Learning-rate warmup and cosine decay: the factor of each optimizer group's peak rate at a point of a phase."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")


def learning_rate_factor(position: float, step: float, epochs: int, warmup_epochs: float, schedule: str) -> float:
    """Multiplier of the peak rate for the step that starts `position` epochs into a phase of `epochs` epochs.

    `step` is one step's length in epochs. Linear warmup over the first
    `warmup_epochs` (the first step already trains), then constant, or cosine decay
    towards 0 at the end of the phase.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    warmup = min(warmup_epochs, float(epochs))
    if position < warmup:
        return min(1.0, (position + step) / warmup)
    if schedule == "constant" or epochs <= warmup:
        return 1.0
    progress = min(1.0, (position - warmup) / (epochs - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))
