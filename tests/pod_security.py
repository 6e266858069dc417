"""The Kubernetes Pod Security Standards (v1.32) `baseline` and `restricted` checks, for pod specs in tests.

Each function returns the violations it finds (empty: the level admits the pod). Covered: the
controls that pods of this project or of KFP could touch: host namespaces, privileged containers,
added capabilities, hostPath volumes and host ports (baseline); volume types, privilege escalation,
running as non-root, seccomp and dropped capabilities (restricted). Not covered (nothing here sets
them): AppArmor, SELinux, /proc mount type, sysctls, Windows host process.
"""

from __future__ import annotations

from typing import Any, Iterator

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod.get(key) or []


def baseline_violations(pod: dict[str, Any]) -> list[str]:
    """What the `baseline` level refuses in this pod spec."""
    found = [f"spec.{key}" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    found += [f"volume {v['name']}: hostPath" for v in pod.get("volumes") or [] if "hostPath" in v]
    for container in _containers(pod):
        name, context = container.get("name") or "?", container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        found += [f"{name}: adds capability {cap}" for cap in sorted(added)]
        found += [f"{name}: hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")]
    return found


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the `restricted` level refuses in this pod spec (its baseline violations included)."""
    found = baseline_violations(pod)
    pod_context = pod.get("securityContext") or {}
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        found += [f"volume {volume['name']}: type {kind}" for kind in sorted(kinds - RESTRICTED_VOLUME_TYPES)]
    if pod_context.get("runAsUser") == 0:
        found.append("spec.securityContext.runAsUser: 0")
    for container in _containers(pod):
        name, context = container.get("name") or "?", container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        found += [f"{name}: adds capability {cap}" for cap in capabilities.get("add") or [] if cap != "NET_BIND_SERVICE"]
    return found
