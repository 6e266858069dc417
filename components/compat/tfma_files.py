"""TFMA 0.47.1's generated metrics proto, loaded without TFMA's package (see the package docstring).

Separate from `tfma_private` because importing that one imports TFMA, and with it TensorFlow.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

_TFMA_MODULE = "tensorflow_model_analysis.proto.metrics_for_slice_pb2"
_PRIVATE_MODULE = "_retrain_metrics_for_slice_pb2"


def metrics_for_slice_pb2() -> ModuleType:
    """TFMA's generated `metrics_for_slice_pb2`; loaded from its file when TFMA is not imported.

    Upstream: tensorflow_model_analysis/proto/metrics_for_slice_pb2.py, whose package
    `__init__` imports TensorFlow and Beam (seconds). Needed by `retrain history`, which reads
    every run's accuracy from TFMA's metrics records (components/versioned_pusher/metrics_records.py).
    The module is registered under a private name, so TFMA imported later gets its own copy.
    """
    for name in (_TFMA_MODULE, _PRIVATE_MODULE):
        if name in sys.modules:
            return sys.modules[name]
    package = importlib.util.find_spec("tensorflow_model_analysis")
    if package is None or not package.submodule_search_locations:
        raise ImportError("tensorflow_model_analysis is not installed")
    path = os.path.join(package.submodule_search_locations[0], "proto", "metrics_for_slice_pb2.py")
    spec = importlib.util.spec_from_file_location(_PRIVATE_MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[_PRIVATE_MODULE] = module
    return module
