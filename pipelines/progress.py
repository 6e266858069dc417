"""Readable progress lines for component start/finish, distilled from TFX's log records.

A component that runs longer than `HEARTBEAT_SECONDS` without finishing (the
Evaluator's TFMA pass, Transform on big data) gets a `still running` line every
`HEARTBEAT_SECONDS`; the trainers print their own batch progress with rate and ETA.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import warnings
from typing import Optional

import absl.logging
from typing import TextIO

_LIFECYCLE = re.compile(r"^(?:node|Component) (?P<node>\S+) is (?P<state>running|finished)\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")
HEARTBEAT_SECONDS = 30.0


class ComponentProgressHandler(logging.Handler):
    """Prints `[retrain] <node> started` / `... done in 12.3s (cached)` lines to a stream."""

    def __init__(self, stream: TextIO | None = None, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(level=logging.INFO)
        self._stream = stream  # None: whatever sys.stdout is when a line is written
        self._started: dict[str, float] = {}
        self._cached: set[str] = set()
        self._current: str | None = None
        self._heartbeat_seconds = heartbeat_seconds
        self._last_heartbeat: dict[str, float] = {}
        self._closed = threading.Event()
        self._beating: Optional[threading.Thread] = None

    def heartbeat(self, now: float) -> list[str]:
        """`[retrain] <node> still running (1m30s)` for each node running without a line for `heartbeat_seconds`."""
        lines = []
        for node, started in list(self._started.items()):
            if now - self._last_heartbeat.get(node, started) >= self._heartbeat_seconds:
                self._last_heartbeat[node] = now
                elapsed = round(now - started)
                lines.append(f"[retrain] {node} still running ({elapsed // 60}m{elapsed % 60:02d}s)")
        return lines

    def _beat(self) -> None:
        while not self._closed.wait(1.0):
            for line in self.heartbeat(time.monotonic()):
                self._write(line)

    def close(self) -> None:
        self._closed.set()
        super().close()

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
            if self._beating is None:
                self._beating = threading.Thread(target=self._beat, name="retrain-heartbeat", daemon=True)
                self._beating.start()
        else:
            elapsed = time.monotonic() - self._started.pop(node, time.monotonic())
            self._last_heartbeat.pop(node, None)
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


_NOISY_LOGGERS = ("tensorflow", "apache_beam", "tensorflow_transform", "tfx_bsl", "transformers")


QUIET_HUGGING_FACE_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def quiet_hugging_face() -> None:
    """No tqdm bars ("Loading weights") and no advisory warnings (a wrong `ForCausalLMLoss` one) from Hugging Face libraries.

    Through the environment, so that processes started later (DDP workers) and modules
    imported later read it; libraries already imported are told directly.
    """
    os.environ.update(QUIET_HUGGING_FACE_ENV)
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


QUIET_CHILD_WARNINGS_ENV = {"PYTHONWARNINGS": "ignore"}


def install_progress(verbose: bool) -> ComponentProgressHandler:
    """Shows component progress; library warnings, INFO and ERROR logs (tracebacks) and third-party progress bars only with `verbose`.

    Without it a failure is reported once, as the line `failure_line` makes.
    """
    handler = ComponentProgressHandler()
    absl_logger = logging.getLogger("absl")
    for previous in [h for h in absl_logger.handlers if isinstance(h, ComponentProgressHandler)]:
        absl_logger.removeHandler(previous)
        previous.close()
    # Through absl's flag, not Logger.setLevel: TensorFlow saves and restores absl's
    # verbosity around SavedModel export, which would reset a level set directly.
    absl.logging.set_verbosity(absl.logging.INFO)
    absl_logger.addHandler(handler)
    if not verbose:
        absl_logger.propagate = False
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        warnings.simplefilter("ignore")
        # Python processes started later read this: Beam's multi_processing workers (which inherit
        # os.environ, apache_beam/runners/portability/local_job_service.py) and DDP workers.
        os.environ.update(QUIET_CHILD_WARNINGS_ENV)
        quiet_hugging_face()
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
