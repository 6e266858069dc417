"""Progress of a long loop (an embedding pass, a training epoch): done/total, rate and ETA.

Not attached to a terminal (logs, CI, Kubeflow), a line every `interval` seconds:
`[retrain] epoch 3/10: 120/480 batches, 12.3 batches/s, ETA 29s`. On a terminal, one
bar rewritten in place. Loops shorter than `interval` print nothing, so quick steps
stay quiet. Framework-neutral: both trainers use it. `step_progress` covers a step
that cannot be counted (a checkpoint conversion) with `still running` lines.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Callable, Iterator, Optional, TextIO

INTERVAL_SECONDS = 10.0
_BAR_WIDTH = 24
_BAR_REFRESH_SECONDS = 0.5


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressLine:
    """Reports `update(done)` calls of a loop over `total` items (None: unknown, no ETA), every `interval` seconds (None: `INTERVAL_SECONDS`)."""

    def __init__(
        self,
        what: str,
        total: Optional[int],
        unit: str = "batches",
        interval: Optional[float] = None,
        stream: Optional[TextIO] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what, self._total, self._unit = what, total, unit
        self._interval = INTERVAL_SECONDS if interval is None else interval
        self._stream = stream or sys.stdout
        self._clock = clock
        self._start = self._last = clock()
        self._bar = bool(getattr(self._stream, "isatty", lambda: False)())
        self._drawn = False

    def describe(self, done: int) -> str:
        """`120/480 batches, 12.3 batches/s, ETA 29s` (without total: `120 batches, 12.3 batches/s`)."""
        elapsed = max(self._clock() - self._start, 1e-9)
        rate = done / elapsed
        if not self._total:
            return f"{done} {self._unit}, {rate:.3g} {self._unit}/s"
        eta = (self._total - done) / rate if rate > 0 else float("inf")
        return f"{done}/{self._total} {self._unit}, {rate:.3g} {self._unit}/s, ETA {_duration(eta) if eta != float('inf') else '?'}"

    def update(self, done: int) -> None:
        """Call after each item (or batch of items); prints when due."""
        now = self._clock()
        due = now - self._last >= (_BAR_REFRESH_SECONDS if self._bar else self._interval)
        finished_bar = self._drawn and done == self._total  # a bar on screen ends full
        if not finished_bar and (not due or (self._bar and now - self._start < self._interval)):
            return
        self._last = now
        if self._bar:
            filled = int(_BAR_WIDTH * done / self._total) if self._total else 0
            bar = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] " if self._total else ""
            self._stream.write(f"\r[retrain] {self._what}: {bar}{self.describe(done)}\033[K")
            self._drawn = True
        else:
            self._stream.write(f"[retrain] {self._what}: {self.describe(done)}\n")
        self._stream.flush()

    def close(self) -> None:
        """Ends a bar drawn in place with a newline (nothing to do for lines)."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def elapsed(self) -> float:
        """Seconds since the loop started."""
        return self._clock() - self._start


@contextlib.contextmanager
def step_progress(what: str, interval: Optional[float] = None, stream: Optional[TextIO] = None) -> Iterator[None]:
    """A step whose length cannot be counted (tracing and saving a SavedModel): start, `still running` every
    `interval` seconds (None: 3 x `INTERVAL_SECONDS`), and `done in` lines."""
    out = stream or sys.stdout
    every = 3 * INTERVAL_SECONDS if interval is None else interval
    start, finished = time.monotonic(), threading.Event()

    def write(line: str) -> None:
        out.write(f"[retrain] {what}{line}\n")
        out.flush()

    def beat() -> None:
        while not finished.wait(every):
            write(f": still running ({_duration(time.monotonic() - start)})")

    write(" ...")
    beating = threading.Thread(target=beat, name="retrain-step-progress", daemon=True)
    beating.start()
    try:
        yield
    finally:
        finished.set()
        beating.join()
    write(f": done in {time.monotonic() - start:.1f}s")
