"""Python's garbage collector while a model trains: the objects that exist before training are left out of full collections."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def earlier_objects_frozen() -> Iterator[None]:
    """Freezes every object tracked now (`gc.freeze`) until the block ends, then puts them back (`gc.unfreeze`).

    A trainer's process holds millions of long-lived objects (TensorFlow's and PyTorch's
    modules, the loaded model); each full collection during training, such as the ones
    PyTorch's first optimizer sets off by importing `torch._dynamo`, would traverse them all.
    New objects are collected as usual. Garbage cycles among the frozen objects wait until
    the block ends. A process that froze objects itself keeps its own freeze: then this does nothing.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
