"""A built-in example's directory: `data/` and a Hub-module `backbone/`, prepared once and atomically.

Everything is written to a staging directory beside the target and renamed into place
only when complete, so an interrupted preparation never leaves a half-written example
behind, and a later call finds the finished one and reuses it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class PreparedExampleDir:
    """Where a prepared example lives: its data and its backbone (a TF Hub module) under `root`."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def backbone_dir(self) -> Path:
        return self.root / "backbone"


def is_prepared(layout: PreparedExampleDir) -> bool:
    """True once a complete example has been moved into place."""
    return layout.data_dir.is_dir() and (layout.backbone_dir / "saved_model.pb").is_file()


def prepare_in_staging(root: Path, write: Callable[[Path], None]) -> None:
    """Runs `write(staging)` on a fresh directory beside `root`, then renames it to `root` (replacing it).

    On any error the staging directory is removed and `root` is left as it was.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        write(staging)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
