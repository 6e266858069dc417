"""A fingerprint of the code that shapes pipeline results.

TFX caches a component by its inputs and execution properties, not by the code
of functions referenced by name (`run_fn`, `preprocessing_fn`). Passing this
fingerprint in their `custom_config` makes a code change invalidate the cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from retrain import components

_PACKAGE_ROOT = Path(components.__file__).resolve().parent


def components_fingerprint() -> str:
    """Short SHA-256 over the paths and contents of every .py file in `components`."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
