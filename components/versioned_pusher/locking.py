"""Exclusive locks on local lock files, held by an open file descriptor (`fcntl.flock`).

The operating system releases the lock when its holder exits or is killed, so a lock
is never stale. The lock file holds one line describing the holder (pid, host, start
time, command) for the message of whoever finds it taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

RETRY_SECONDS = 0.1


class LockHeld(RuntimeError):
    """The lock is held by another process; the message names the holder."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by {holder or 'another process'}")
        self.path, self.holder = path, holder


def holder_description() -> str:
    """`pid 123 on host since 2026-12-06 07:30:00: retrain run --output out` for the current process."""
    command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}: {command}"


def _read_holder(handle: int) -> str:
    os.lseek(handle, 0, os.SEEK_SET)
    return os.read(handle, 4096).decode("utf-8", "replace").strip()


@contextlib.contextmanager
def exclusive_lock(path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Holds an exclusive lock on `path` (created if missing) for the `with` block.

    Waits up to `wait_seconds` for a holder to let go, then raises LockHeld naming it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(path, _read_holder(handle)) from None
                time.sleep(RETRY_SECONDS)
        os.ftruncate(handle, 0)
        os.pwrite(handle, (holder_description() + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(handle, 0)  # unlocked with the descriptor's close below
    finally:
        os.close(handle)


def is_locked(path: Path) -> bool:
    """Whether a live process holds the lock on `path`.

    The probe takes a shared lock for an instant; takers wait (`wait_seconds`) long enough not to mind it.
    """
    if not path.exists():
        return False
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
