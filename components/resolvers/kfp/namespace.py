"""The Kubernetes namespace a compiled step runs in, which scopes what its resolver may choose.

The KFP v2 driver and launcher read it from the pod's service-account mount
(kubeflow/pipelines `backend/src/v2/config/env.go` `InPodNamespace`, 2.4.0 and
2.5.0) and record it as the `namespace` custom property of the run's
`system.PipelineRun` context (`backend/src/v2/metadata/client.go` `GetPipeline`);
the `system.Pipeline` context, keyed by the pipeline name alone, is shared by
every namespace. A step reads the same file; NAMESPACE_ENV overrides it (local
executors of the compiled spec). Neither set: None, no namespace filter (local
TFX runs record no namespace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
NAMESPACE_ENV = "RETRAIN_KFP_NAMESPACE"


def step_namespace() -> Optional[str]:
    """This step's namespace: NAMESPACE_ENV, else the service-account namespace file, else None."""
    if os.environ.get(NAMESPACE_ENV):
        return os.environ[NAMESPACE_ENV]
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return None
