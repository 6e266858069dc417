"""Where a training run keeps its resumable checkpoints: a directory keyed by a fingerprint of the run.

A TFX component re-execution gets fresh output directories, so checkpoints live under
the component's stable directory (`<pipeline_root>/<component>/checkpoints/<fingerprint>`),
keyed by everything that determines the run: same inputs -> same directory -> resume;
anything changed -> a fresh start.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping


def run_fingerprint(parts: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable description of a training run."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_dir(model_run_dir: str, parts: Mapping[str, Any]) -> str:
    """`<component dir>/checkpoints/<run_fingerprint(parts)>`; `model_run_dir` is `<component dir>/model_run/<execution id>`."""
    return os.path.join(os.path.dirname(os.path.dirname(model_run_dir)), "checkpoints", run_fingerprint(parts))
