"""The security-relevant part of how Argo's workflow controller turns a KFP workflow into pods.

A port of argoproj/argo-workflows at v3.4.17 (KFP 2.4.x) and v3.5.14 (KFP 2.5.0), the versions
KFP pins (`third_party/argo/VERSION`), for what decides a pod's securityContext:
- `workflow/util/merge.go` `JoinWorkflowSpec`/`MergeTo`: the controller config's
  `workflowDefaults` is the original and the workflow's spec the patch, so the workflow's own
  fields win and nested structs (`securityContext`) merge field by field;
- `workflow/controller/workflowpod.go` `createWorkflowPod`: the pod's securityContext is the
  template's, else the (defaulted) workflow's; each template container is named `main` and has
  the `mainContainer` config merged under it (the template's fields win); Argo's own `init` and
  `wait` containers are built by `newExecContainer` with the `executor` config's
  securityContext; the template's `initContainers` are appended unchanged (`addInitContainers`).
The pod spec patches (the driver's output for the step pod) are not applied here: KFP's driver
writes no securityContext into them at 2.4.0 or 2.5.0 (backend/src/v2/driver/driver.go).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional

import yaml

Pod = dict[str, Any]


def merge_struct(original: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A strategic merge of two Kubernetes structs without lists: `patch` wins, nested maps merge."""
    merged = copy.deepcopy(dict(original))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_struct(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def controller_config(configmap: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow-controller-configmap's `data` as the controller reads it (each key a YAML document)."""
    return {key: yaml.safe_load(value) for key, value in (configmap.get("data") or {}).items()}


def _main_container(container: Mapping[str, Any], defaults: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """A template container as `main`, the `mainContainer` config merged under it (Go's json.Unmarshal of the
    defaults, then of the template, into one Container: the template's fields win, nested structs merge)."""
    main = merge_struct(defaults or {}, container)
    main["name"] = "main"
    return main


def _executor_container(name: str, executor: Mapping[str, Any]) -> dict[str, Any]:
    """Argo's `init` or `wait` container: the executor image with the `executor` config's securityContext."""
    container: dict[str, Any] = {"name": name, "image": "quay.io/argoproj/argoexec"}
    if executor.get("securityContext"):
        container["securityContext"] = copy.deepcopy(executor["securityContext"])
    return container


def workflow_pods(workflow: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Pod]:
    """The pod spec (securityContext, containers, init containers, volumes) of each container template, by template name."""
    defaults_spec = ((config.get("workflowDefaults") or {}).get("spec")) or {}
    spec = merge_struct(defaults_spec, workflow["spec"])
    executor = config.get("executor") or {}
    pods: dict[str, Pod] = {}
    for template in spec["templates"]:
        if "container" not in template:
            continue
        pod: Pod = {
            "initContainers": [_executor_container("init", executor)] + copy.deepcopy(template.get("initContainers") or []),
            "containers": [_main_container(template["container"], config.get("mainContainer")), _executor_container("wait", executor)],
            "volumes": copy.deepcopy(template.get("volumes") or []),
        }
        security_context = template.get("securityContext") or spec.get("securityContext")
        if security_context:
            pod["securityContext"] = copy.deepcopy(security_context)
        pods[template["name"]] = pod
    return pods
