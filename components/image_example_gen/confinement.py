"""Path confinement: an image is read only when its path resolves inside the data directory or an allowed root.

Two checks, in this order, so that nothing outside is ever touched on the filesystem:
1. lexical: the normalised path (`..` collapsed, no filesystem access) lies under a root
   (absolute manifest paths and `../` rows that leave the roots stop here);
2. resolved (local paths only): the real path, every symbolic link followed, lies under
   a root's real path (a symlinked file or directory pointing out stops here).
Both give the same reason, whether or not anything exists outside, so a rejection
never tells whether an outside file exists. Remote URIs (gs://…) have no symlinks:
only the lexical check applies.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Iterable, Optional

OUTSIDE_REASON = "outside the data directory and data.allowed_roots: not read"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def _is_remote(path: str) -> bool:
    return _SCHEME.match(path) is not None


def _normalised(path: str) -> str:
    """`path` with `.`/`..` collapsed lexically; a URI keeps its scheme."""
    scheme = _SCHEME.match(path)
    if scheme:
        return scheme.group(0) + posixpath.normpath(path[scheme.end() :]).lstrip("/")
    return posixpath.normpath(path)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@dataclass(frozen=True)
class Confinement:
    """The roots images may be read from: the data directory (input_base) and `data.allowed_roots`."""

    roots: tuple[str, ...]

    @classmethod
    def of(cls, input_base: str, allowed_roots: Iterable[str] = ()) -> Confinement:
        """Confinement to `input_base` and `allowed_roots` (as given and, for local ones, as real paths)."""
        given = [_normalised(root) for root in (input_base, *allowed_roots)]
        real = [os.path.realpath(root) for root in given if not _is_remote(root)]
        return cls(tuple(dict.fromkeys(given + real)))

    def resolve(self, uri: str) -> Optional[str]:
        """The path to read for `uri` (its real path when local), or None when it lies outside every root."""
        lexical = _normalised(uri)
        if not _under(lexical, self.roots):
            return None
        if _is_remote(lexical):
            return lexical
        real = os.path.realpath(lexical)
        return real if _under(real, self.roots) else None
