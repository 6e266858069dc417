"""Readable progress lines for component start/finish, distilled from TFX's log records."""
from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from typing import TextIO

_LIFECYCLE = re.compile(r"^(?:node|Component) (?P<node>\S+) is (?P<state>running|finished)\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")


class ComponentProgressHandler(logging.Handler):
    """Prints `[retrain] <node> started` / `... done in 12.3s (cached)` lines to a stream."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        super().__init__(level=logging.INFO)
        self._stream = stream
        self._started: dict[str, float] = {}
        self._cached: set[str] = set()
        self._current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
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

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


_NOISY_LOGGERS = ("tensorflow", "apache_beam", "tensorflow_transform", "tfx_bsl")


def install_progress(verbose: bool) -> ComponentProgressHandler:
    """Shows component progress; library warnings and INFO logs only with `verbose`."""
    handler = ComponentProgressHandler()
    absl_logger = logging.getLogger("absl")
    absl_logger.setLevel(logging.INFO)
    absl_logger.addHandler(handler)
    if not verbose:
        absl_logger.propagate = False
        errors = logging.StreamHandler(sys.stderr)
        errors.setLevel(logging.ERROR)
        absl_logger.addHandler(errors)
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
    return handler
