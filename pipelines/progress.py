"""Readable progress lines for component start/finish, distilled from TFX's log records."""
from __future__ import annotations

import logging
import re
import sys
import time
import warnings

import absl.logging
from typing import TextIO

_LIFECYCLE = re.compile(r"^(?:node|Component) (?P<node>\S+) is (?P<state>running|finished)\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")


class ComponentProgressHandler(logging.Handler):
    """Prints `[retrain] <node> started` / `... done in 12.3s (cached)` lines to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(level=logging.INFO)
        self._stream = stream  # None: whatever sys.stdout is when a line is written
        self._started: dict[str, float] = {}
        self._cached: set[str] = set()
        self._current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._show(record.getMessage())
        except Exception:  # a progress line must never break the pipeline
            self.handleError(record)

    def _show(self, message: str) -> None:
        if _CACHED.match(message) and self._current:
            self._cached.add(self._current)
            return
        match = _LIFECYCLE.match(message)
        if not match:
            return
        node = match["node"]
        if match["state"] == "running":
            self._started[node] = time.monotonic()
            self._current = node
            self._write(f"[retrain] {node} started")
        else:
            elapsed = time.monotonic() - self._started.pop(node, time.monotonic())
            note = " (cached)" if node in self._cached else ""
            self._write(f"[retrain] {node} done in {elapsed:.1f}s{note}")

    @property
    def running(self) -> str | None:
        """The component started last and not finished (the one that failed, when the pipeline stops)."""
        return next(reversed(self._started), None)

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()


_NOISY_LOGGERS = ("tensorflow", "apache_beam", "tensorflow_transform", "tfx_bsl")


def install_progress(verbose: bool) -> ComponentProgressHandler:
    """Shows component progress; library warnings, INFO and ERROR logs (tracebacks) only with `verbose`.

    Without it a failure is reported once, as the line `failure_line` makes.
    """
    handler = ComponentProgressHandler()
    absl_logger = logging.getLogger("absl")
    for previous in [h for h in absl_logger.handlers if isinstance(h, ComponentProgressHandler)]:
        absl_logger.removeHandler(previous)
    # Through absl's flag, not Logger.setLevel: TensorFlow saves and restores absl's
    # verbosity around SavedModel export, which would reset a level set directly.
    absl.logging.set_verbosity(absl.logging.INFO)
    absl_logger.addHandler(handler)
    if not verbose:
        absl_logger.propagate = False
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        warnings.simplefilter("ignore")
    return handler


_BEAM_CONTEXT = re.compile(r" \[while running '[^']*'\]$")


def error_line(error: BaseException) -> str:
    """`Type: first line of the message`, without the `[while running '...']` Beam appends."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {_BEAM_CONTEXT.sub('', lines[0]) if lines else 'no message'}"


def failure_line(error: BaseException, step: str | None) -> str:
    """One line for a pipeline that stopped: the failing step (component id), when known, and the cause."""
    where = f"step {step}: " if step else ""
    return f"pipeline failed: {where}{error_line(error)}"
