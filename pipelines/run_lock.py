"""One `retrain run` at a time per metadata store: a lock file beside it, held for the whole run.

A second run on the same store refuses at once with one line naming the holder (pid,
host, start, command) instead of racing the first for the same baseline and pushes.
The operating system drops the lock when its holder exits or is killed, so it is never stale.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from retrain.components.versioned_pusher.locking import LockHeld, exclusive_lock, is_locked

LOCK_SUFFIX = ".lock"
WAIT_SECONDS = 2.0  # rides out `retrain history` probing the lock; a real run holds it far longer


class RunLocked(RuntimeError):
    """Another run holds the store; the message is one line naming it."""


def run_lock_path(metadata_path: Path) -> Path:
    """`<metadata store>.lock`, e.g. `retrain-output/metadata.sqlite.lock`."""
    return metadata_path.with_name(metadata_path.name + LOCK_SUFFIX)


@contextlib.contextmanager
def hold_run_lock(metadata_path: Path) -> Iterator[None]:
    """Holds the store's run lock for the `with` block; RunLocked when another run has it."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive_lock(run_lock_path(metadata_path), wait_seconds=WAIT_SECONDS))
        except LockHeld as held:
            raise RunLocked(
                f"another retrain run is using {metadata_path} ({held.holder or 'holder unknown'}); "
                "nothing was started: run again when it has finished"
            ) from None
        yield


def run_in_progress(metadata_path: Path) -> bool:
    """Whether a live `retrain run` holds the store's lock."""
    return is_locked(run_lock_path(metadata_path))
