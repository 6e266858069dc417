"""The divergence guard: a phase whose loss rose or whose predictions collapsed to one class stops with a hint.

Framework-neutral: `DivergenceGuard.check` takes one epoch's mean training loss and
how many distinct classes the model predicted on that epoch's training batches.
From the phase's second epoch on, a loss above the first epoch's (by more than
`RISE_TOLERANCE` of it, at least `MIN_RISE`), a loss above `CEILING_FACTOR` times
ln(classes) (what predicting every class alike costs: a loss that exploded within
the first epoch and only falls back from there), or predictions of one class only in
two epochs in a row without the loss falling between them (a collapsed model; a
head that still predicts one class while its loss falls is only starting), raise
`TrainingDiverged` with one line naming the settings to change. A loss that is
not finite stops the phase at once. Both trainers call it after every epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

RISE_TOLERANCE = 0.1
MIN_RISE = 0.05
CEILING_FACTOR = 3.0


class TrainingDiverged(RuntimeError):
    """A training phase diverged; the message is one line with the setting to change."""


@dataclass
class DivergenceGuard:
    """Watches one phase of a `num_classes` classifier. `backbone_learning_rate` is None while the backbone is frozen."""

    phase: str
    num_classes: int
    learning_rate: float
    backbone_learning_rate: Optional[float] = None
    first_loss: Optional[float] = None
    _epochs: int = field(default=0, repr=False)
    _previous: Optional[tuple[float, int]] = field(default=None, repr=False)

    def check(self, loss: float, predicted_classes: int) -> None:
        """Call after each epoch of the phase; raises TrainingDiverged when it went wrong."""
        self._epochs += 1
        if not math.isfinite(loss):
            self._stop(f"the training loss became {loss}")
        previous, self._previous = self._previous, (loss, predicted_classes)
        if self.first_loss is None:
            self.first_loss = loss
            return
        if loss > self.first_loss + max(RISE_TOLERANCE * self.first_loss, MIN_RISE):
            self._stop(f"the training loss rose from {self.first_loss:.4f} (first epoch) to {loss:.4f}")
        uniform = math.log(self.num_classes)
        if loss > CEILING_FACTOR * uniform:
            self._stop(f"the training loss is {loss:.4g}, above {CEILING_FACTOR:g}x what predicting every class alike costs ({uniform:.4f})")
        if previous is not None and predicted_classes <= 1 and previous[1] <= 1 and loss >= previous[0]:
            self._stop(f"every training example is predicted as one class and the loss stopped falling ({loss:.4f})")

    def _stop(self, what: str) -> None:
        rates = f"lower training.learning_rate (now {self.learning_rate:g})"
        if self.backbone_learning_rate is not None:
            rates += f" or training.backbone_learning_rate_scale (the backbone trains at {self.backbone_learning_rate:g})"
        raise TrainingDiverged(
            f"training diverged in phase '{self.phase}' after epoch {self._epochs} of it: {what}; "
            f"{rates}, or set training.divergence_guard: false to train on anyway"
        )
