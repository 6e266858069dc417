"""Starting N training processes on this machine with PyTorch's elastic launcher (what `torchrun` does).

`launch(entrypoint, argument, N)` runs `entrypoint(argument)` in N fresh Python
processes with `RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`
set, through `torch.distributed.launcher.api.elastic_launch` on a local c10d
rendezvous, exactly as `torchrun --standalone --nproc_per_node=N -m <this module>`
would (no `torchrun` binary on PATH needed). Each worker runs this module: it
imports only the entrypoint's module (not the caller's `__main__`), reads the
pickled argument from a private temporary directory and pickles its result
there. A failure in any worker stops the others and comes back as one line.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

Argument = TypeVar("Argument")
Result = TypeVar("Result")

_ARGUMENT_FILE = "argument.pkl"
_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")  # the agent's handlers replace these; restored afterwards


class WorkerFailed(RuntimeError):
    """A training process raised or died; the message names the rank and the root cause."""


def process_count(requested: Optional[int], visible_gpus: int) -> int:
    """How many training processes: `requested`, else one per visible GPU, else 1 (CPU).

    On GPUs every process needs a GPU of its own (NCCL does not share one between processes).
    """
    if requested is not None and requested < 1:
        raise ValueError(f"training.torch_processes must be at least 1, got {requested}")
    if requested is not None and visible_gpus and requested > visible_gpus:
        raise ValueError(f"training.torch_processes is {requested}, but only {visible_gpus} GPU(s) are visible (one process per GPU)")
    return requested if requested is not None else max(1, visible_gpus)


def launch(entrypoint: Callable[[Argument], Result], argument: Argument, processes: int) -> list[Result]:
    """`entrypoint(argument)` in `processes` worker processes; their return values in rank order.

    `entrypoint` must be a module-level function; `argument` and the results must be
    picklable (they only pass through a private temporary directory of this machine).
    Raises `WorkerFailed` naming the first failing rank and its exception.
    """
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=processes,
        run_id=f"retrain-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port on this machine, as `torchrun --standalone`
        max_restarts=0,
    )
    saved = _signal_handlers()
    with tempfile.TemporaryDirectory(prefix="retrain-workers-") as run_dir:
        Path(run_dir, _ARGUMENT_FILE).write_bytes(pickle.dumps(argument))
        try:
            elastic_launch(config, sys.executable)("-m", __name__, f"{entrypoint.__module__}:{entrypoint.__qualname__}", run_dir)
        except ChildFailedError as error:
            raise WorkerFailed(_first_failure(error, run_dir, processes)) from None
        finally:
            _restore(saved)
        return [pickle.loads(Path(run_dir, f"result-{rank}.pkl").read_bytes()) for rank in range(processes)]


def _serve(entrypoint: str, run_dir: str) -> None:
    """A worker: `entrypoint` ("module:function") on the argument in `run_dir`; result or failure written there.

    An exception is recorded with its time before it propagates (its traceback goes to
    the worker's stderr): when one worker fails the others fail right after it, as their
    collectives lose a peer, and the earliest exception is the root cause.
    """
    module, function = entrypoint.split(":")
    rank = int(os.environ["RANK"])
    try:
        argument = pickle.loads(Path(run_dir, _ARGUMENT_FILE).read_bytes())
        result = getattr(importlib.import_module(module), function)(argument)
    except Exception as error:
        failure = {"rank": rank, "time_ns": time.time_ns(), "error": f"{type(error).__name__}: {error}"}
        Path(run_dir, f"failure-{rank}.json").write_text(json.dumps(failure))
        raise
    Path(run_dir, f"result-{rank}.pkl").write_bytes(pickle.dumps(result))


_PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "remote worker crashing")


def _lost_a_peer(record: dict[str, Any]) -> bool:
    """True for a worker that failed only because another one went away (its collectives lost the connection)."""
    return any(marker in record["error"] for marker in _PEER_LOST)


def _first_failure(error: ChildFailedError, run_dir: str, processes: int) -> str:
    """One line: the root cause among the workers' exceptions, else how the first failed worker ended (signal, exit code).

    The root cause is the earliest exception that is not a lost connection to a peer: a worker
    that fails may close its connections (destroying the process group) before it records its
    own exception, so under load a peer's "connection closed" can be recorded first.
    """
    raised = [json.loads(path.read_text()) for path in Path(run_dir).glob("failure-*.json")]
    if raised:
        first = min(raised, key=lambda record: (_lost_a_peer(record), record["time_ns"]))
        return f"training process {first['rank']} of {processes} failed: {first['error'].splitlines()[0]}"
    rank, failure = error.get_first_failure()
    ending = failure.message if failure.exitcode < 0 else f"exit code {failure.exitcode}"
    return f"training process {rank} of {processes} failed: {ending} (see its log above)"


def _signal_handlers() -> dict[signal.Signals, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {getattr(signal, name): signal.getsignal(getattr(signal, name)) for name in _SIGNALS}


def _restore(handlers: dict[signal.Signals, Any]) -> None:
    for number, handler in handlers.items():
        if handler is not None:
            signal.signal(number, handler)


if __name__ == "__main__":
    _serve(*sys.argv[1:])
