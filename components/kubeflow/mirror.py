"""Object-store artifact URIs and the local mirror paths the KFP v2 launcher gives them.

The launcher (kubeflow/pipelines `backend/src/v2/component/launcher_v2.go`,
`localPathForURI` at 2.4.0, `LocalPathForURI` at 2.5.0) maps `gs://B/K` to
`/gcs/B/K`, `minio://B/K` to `/minio/B/K` and `s3://B/K` to `/s3/B/K`. Before the
step's command runs it downloads every input artifact (the first of each list) to
its mirror path (`downloadArtifacts`); after the command exits it uploads each
output artifact's mirror path to its URI (`uploadOutputArtifacts`). Other URIs
(local paths) have no mirror and are used as they are.

MIRROR_PREFIX_ENV (unset in a cluster) moves the mirror roots under a directory,
for local executors of the compiled spec that cannot write `/minio`.
"""

from __future__ import annotations

import os
from typing import Optional

# URI scheme prefix -> local mirror root, as LocalPathForURI (2.4.0 and 2.5.0; `oci://` models are not artifacts here).
MIRROR_ROOTS: dict[str, str] = {"gs://": "/gcs/", "minio://": "/minio/", "s3://": "/s3/"}
MIRROR_PREFIX_ENV = "RETRAIN_KFP_MIRROR_PREFIX"


def _roots() -> dict[str, str]:
    prefix = os.environ.get(MIRROR_PREFIX_ENV, "").rstrip("/")
    return {scheme: prefix + root for scheme, root in MIRROR_ROOTS.items()}


def mirror_path(uri: str) -> Optional[str]:
    """The launcher's local path for an object-store `uri`; None for URIs it does not mirror (local paths)."""
    for scheme, root in _roots().items():
        if uri.startswith(scheme):
            return root + uri[len(scheme) :]
    return None


def uri_of(path_or_uri: str) -> str:
    """The object-store URI behind a mirror path (inverse of `mirror_path`); anything else unchanged.

    Resolver steps see their inputs at mirror paths while ML Metadata records URIs:
    compare `uri_of` both sides.
    """
    for scheme, root in _roots().items():
        if path_or_uri.startswith(root):
            return scheme + path_or_uri[len(root) :]
    return path_or_uri
