"""VersionedPusher: the standard TFX Pusher with retrain's versioning executor."""
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.versioned_pusher import executor


class VersionedPusher(Pusher):
    """Same spec, inputs and outputs as `Pusher`; pushes as integer versions, atomically, once per model."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
