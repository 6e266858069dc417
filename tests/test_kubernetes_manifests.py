"""kubernetes/: the overlays render offline, every object validates against the Kubernetes schemas,
the manifests agree with the config they go with (image, service account, node pool, PVC), the
namespace's Pod Security level admits KFP's pipeline pods, and every image is pinned."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from retrain.pipelines.config import RetrainConfig, config_from_dict
from retrain.pipelines.kubeflow.server_settings import IN_CLUSTER_TOKEN_PATH
from retrain.pipelines.kubeflow.platform import SHM_VOLUME
from retrain.pipelines.kubeflow.settings import KubeflowSettings
from argo_pods import controller_config, workflow_pods
from pod_security import baseline_violations, restricted_violations

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = REPO_ROOT / "kubernetes"
OVERLAYS = ("gke", "eks")
KUBERNETES_VERSION = "1.32.0"  # the cluster version the eksctl config asks for; kubectl here is 1.32
NAMESPACED_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ResourceQuota", "LimitRange", "PersistentVolumeClaim", "CronJob", "ConfigMap"}
KUBECTL = shutil.which("kubectl")
KFP_WORKFLOWS = Path(__file__).resolve().parent / "kfp_backend" / "argo"
ARGO_PATCH = KUBERNETES / "argo" / "workflow-controller-configmap-patch.yaml"
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed")


@functools.cache
def _render(directory: str) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, "kustomize", str(KUBERNETES / directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return tuple(item for item in yaml.safe_load_all(done.stdout) if item)


def _one(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    (found,) = [item for item in objects if item["kind"] == kind]
    return found


def _config(objects: tuple[dict[str, Any], ...]) -> RetrainConfig:
    return config_from_dict(yaml.safe_load(_one(objects, "ConfigMap")["data"]["retrain.yaml"]))


def _tolerated(taint: dict[str, str], settings: KubeflowSettings) -> bool:
    effect = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}.get(taint["effect"], taint["effect"])
    return any(
        t.key == taint["key"] and t.effect == effect and (t.operator == "Exists" or t.value == taint.get("value")) for t in settings.gpu.tolerations
    )


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_validates(overlay: str) -> None:
    objects = _render(f"overlays/{overlay}")
    for item in objects:
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
    kinds = {item["kind"] for item in objects}
    assert NAMESPACED_KINDS | {"Namespace"} <= kinds
    assert all(item["metadata"]["namespace"] == "retrain" for item in objects if item["kind"] in NAMESPACED_KINDS)
    assert _one(objects, "Namespace")["metadata"]["labels"]["pipelines.kubeflow.org/enabled"] == "true"


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_matches_its_config(overlay: str) -> None:
    objects = _render(f"overlays/{overlay}")
    config = _config(objects)
    names = {(item["kind"], item["metadata"]["name"]) for item in objects}
    assert ("ServiceAccount", config.kubeflow.service_account) in names
    assert ("PersistentVolumeClaim", config.kubeflow.serving_claim) in names and config.kubeflow.serving_on_volume
    assert _one(objects, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]
    assert config.kubeflow.server.namespace == "retrain" and config.kubeflow.server.auth.method == "service_account"

    cronjob = _one(objects, "CronJob")["spec"]
    assert (cronjob["concurrencyPolicy"], cronjob["suspend"]) == ("Forbid", True)
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == config.kubeflow.image
    assert container["command"][:2] == ["retrain", "submit"] and "--wait" in container["command"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    token_mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["kfp-token"]
    (projected,) = [v["projected"]["sources"][0]["serviceAccountToken"] for v in pod["volumes"] if v["name"] == "kfp-token"]
    assert Path(token_mount) / projected["path"] == IN_CLUSTER_TOKEN_PATH and projected["audience"] == "pipelines.kubeflow.org"


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_is_namespaced_and_least_privilege(overlay: str) -> None:
    objects = _render(f"overlays/{overlay}")
    assert not {"ClusterRole", "ClusterRoleBinding"} & {item["kind"] for item in objects}
    for role in (item for item in objects if item["kind"] == "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], role["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
        if role["metadata"]["name"].endswith("-pipeline"):
            secrets = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
            assert all(rule.get("resourceNames") and rule["verbs"] == ["get"] for rule in secrets)


@needs_kubectl
def test_base_uses_the_config_default_image() -> None:
    objects = _render("base")
    container = _one(objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == KubeflowSettings().image == _config(objects).kubeflow.image


@needs_kubectl
def test_gke_node_pool_is_the_configured_gpu_pool() -> None:
    (pool,) = _render("overlays/gke/node-pool")
    # Config Connector CRDs have no schema in kubernetes-validate: checked field by field below instead.
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(pool, KUBERNETES_VERSION, strict=True)
    assert (pool["apiVersion"], pool["kind"]) == ("container.cnrm.cloud.google.com/v1beta1", "ContainerNodePool")
    settings = _config(_render("overlays/gke")).kubeflow
    assert settings.gpu.node_pool is not None
    assert (settings.gpu.node_pool.label, settings.gpu.node_pool.value) == ("cloud.google.com/gke-nodepool", pool["metadata"]["name"])
    node = pool["spec"]["nodeConfig"]
    assert pool["spec"]["clusterRef"]["name"] and pool["spec"]["autoscaling"]["minNodeCount"] == 0
    assert node["guestAccelerator"][0]["count"] >= settings.gpu.count >= 1
    assert node["taint"] and all(_tolerated(taint, settings) for taint in node["taint"])


def test_eks_node_group_is_the_configured_gpu_pool() -> None:
    cluster = yaml.safe_load((KUBERNETES / "overlays/eks/cluster/cluster.yaml").read_text())
    assert (cluster["apiVersion"], cluster["kind"]) == ("eksctl.io/v1alpha5", "ClusterConfig")
    settings = config_from_dict(yaml.safe_load((KUBERNETES / "overlays/eks/retrain.yaml").read_text())).kubeflow
    assert settings.gpu.node_pool is not None and settings.gpu.node_pool.label == "eks.amazonaws.com/nodegroup"
    (group,) = [g for g in cluster["managedNodeGroups"] if g["name"] == settings.gpu.node_pool.value]
    assert re.match(r"^(g4dn|g5|g6|g6e|p3|p4d|p5)\.", group["instanceType"]) and group["minSize"] == 0
    assert group["taints"] and all(_tolerated(taint, settings) for taint in group["taints"])
    kustomization = yaml.safe_load((KUBERNETES / "overlays/eks/kustomization.yaml").read_text())
    assert not any("cluster" in resource for resource in kustomization["resources"])


def test_dockerfile_builds_both_configured_images_from_the_lock() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    settings = KubeflowSettings()
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:12\.\d+\.\d+-", dockerfile, re.M) and "FROM ${CUDA_IMAGE}" in dockerfile
    assert re.search(r"tf\) pip install --no-deps .*\\\n\s+-r requirements\.lock", dockerfile)
    assert f"docker build -t {settings.image} ." in dockerfile
    assert f"docker build --build-arg IMAGE_VARIANT=torch -t {settings.torch_image} ." in dockerfile
    torch_branch = dockerfile[dockerfile.index("torch) ") : dockerfile.index(";;", dockerfile.index("torch) "))]
    assert "-r requirements-torch.txt" in torch_branch and "and-cuda" not in torch_branch  # cuDNN 9 (torch) vs 8.9 (TF)
    (user,) = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert all(part.isdigit() and part != "0" for part in user.split(":"))  # numeric: runAsNonRoot can verify it
    assert "-perm /6000 -exec chmod a-s" in dockerfile  # no setuid/setgid binaries
    prepared = re.search(r"prepare_digits_example\(Path\('([^']+)'\)", dockerfile)
    assert prepared and Path(prepared.group(1)) == Path(settings.data_root) / "digits"


def test_the_torch_requirements_are_the_locks_pytorch_as_a_cuda_build() -> None:
    (locked,) = re.findall(r"^torch==(\S+)$", (REPO_ROOT / "requirements.lock").read_text(), re.M)
    (wanted,) = [line for line in (REPO_ROOT / "requirements-torch.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert locked.endswith("+cpu") and wanted == f"torch=={locked.removesuffix('+cpu')}"


def _image_references() -> dict[str, str]:
    """Every image reference a user is told to build, push or deploy: configs, rendered manifests, docs."""
    found = {}
    for overlay in ("base", *(f"overlays/{name}" for name in OVERLAYS)):
        objects = _render(overlay)
        settings = _config(objects).kubeflow
        found[f"{overlay} kubeflow.image"], found[f"{overlay} kubeflow.torch_image"] = settings.image, str(settings.torch_image)
        for item in objects:
            pod = (item.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")) or {}
            for container in pod.get("containers", []):
                found[f"{overlay} {item['kind']} {container['name']}"] = container["image"]
    for doc in (REPO_ROOT / "Dockerfile", KUBERNETES / "README.md", REPO_ROOT / "README.md"):
        for number, tag in enumerate(re.findall(r"docker (?:build|tag|push)[^\n]*", doc.read_text())):
            for reference in re.findall(r"\S*retrain(?:-torch)?:\S+", tag):
                found[f"{doc.relative_to(REPO_ROOT)} docker command {number}"] = reference
    return found


@needs_kubectl
def test_every_image_is_pinned_by_a_version_tag_or_digest() -> None:
    references = _image_references()
    assert len(references) > 8
    for where, reference in references.items():
        name, _, digest = reference.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        assert digest.startswith("sha256:") or (tag and tag != "latest"), f"{where}: {reference}"


def _controller_configmap(hardened: bool) -> dict[str, Any]:
    """KFP's workflow-controller-configmap (third-party/argo at 2.5.0; 2.4.0 differs only in comments),
    with kubernetes/argo's patch applied by `kubectl patch --local --type merge` when `hardened`."""
    stock = KFP_WORKFLOWS / "workflow-controller-configmap-2.5.0.yaml"
    if not hardened:
        return yaml.safe_load(stock.read_text())
    assert KUBECTL is not None
    command = [KUBECTL, "patch", "--local", "-f", str(stock), "--type", "merge", "--patch-file", str(ARGO_PATCH), "-o", "yaml"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _kfp_pipeline_pods(version: str, hardened: bool) -> dict[str, dict[str, Any]]:
    """The pods Argo runs for KFP `version`'s compiled workflow (DAG driver, container driver, step), with retrain's volumes.

    The workflow is backend/src/v2/compiler/argocompiler/testdata/hello_world.yaml at the tag; the
    pods are built as Argo's controller builds them (tests/argo_pods.py) under KFP's controller
    config, `hardened` with kubernetes/argo's patch. The step pod also gets what the driver's pod
    spec patch adds for retrain's platform config (the serving PVC, /dev/shm), and no
    securityContext: neither the driver (backend/src/v2/driver/driver.go) nor the
    KubernetesExecutorConfig (kubernetes_executor_config.proto) has one at 2.4.0 or 2.5.0.
    """
    workflow = yaml.safe_load((KFP_WORKFLOWS / f"hello_world-{version}.yaml").read_text())
    pods = workflow_pods(workflow, controller_config(_controller_configmap(hardened)))
    settings = KubeflowSettings()
    pods["system-container-impl"]["volumes"] += [
        {"name": str(settings.serving_claim), "persistentVolumeClaim": {"claimName": settings.serving_claim}},
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": settings.gpu.shm_size}},
    ]
    assert set(pods) == {"system-dag-driver", "system-container-driver", "system-container-impl"}
    return pods


@needs_kubectl
@pytest.mark.parametrize("version", ["2.4.0", "2.5.0"])
def test_the_enforced_pod_security_level_admits_kfp_pipeline_pods(version: str) -> None:
    """`baseline` is enforced because KFP's pipeline pods meet it; `restricted` would refuse them, so it is audited and warned."""
    labels = _one(_render("base"), "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/audit"] == labels["pod-security.kubernetes.io/warn"] == "restricted"
    for name, pod in _kfp_pipeline_pods(version, hardened=False).items():
        assert baseline_violations(pod) == [], name
        assert any("main: allowPrivilegeEscalation" in violation for violation in restricted_violations(pod)), name


@needs_kubectl
@pytest.mark.parametrize("version", ["2.4.0", "2.5.0"])
def test_the_argo_patch_hardens_every_pipeline_container_but_kfps_launcher_copy(version: str) -> None:
    """With kubernetes/argo's controller patch, the drivers meet `restricted`; in the step pod only KFP's
    `kfp-launcher` init container (a template init container, which no controller setting reaches) does not."""
    pods = _kfp_pipeline_pods(version, hardened=True)
    assert restricted_violations(pods["system-dag-driver"]) == restricted_violations(pods["system-container-driver"]) == []
    assert restricted_violations(pods["system-container-impl"]) == [
        "kfp-launcher: allowPrivilegeEscalation is not false",
        "kfp-launcher: capabilities do not drop ALL",
    ]
    main = next(c for c in pods["system-container-impl"]["containers"] if c["name"] == "main")
    assert (
        main["image"].startswith("gcr.io/ml-pipeline/should-be-overridden") and pods["system-container-impl"]["securityContext"]["runAsUser"] == 1000
    )
    for pod in pods.values():  # what the patch sets is a valid Pod for the Kubernetes version the configs ask for
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod}, KUBERNETES_VERSION, strict=True)


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_retrains_own_pods_meet_restricted(overlay: str) -> None:
    cronjob = _one(_render(f"overlays/{overlay}"), "CronJob")
    assert restricted_violations(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]) == []
    assert restricted_violations({"containers": [{"name": "bare"}]})  # the check can fail


FLINK_OVERLAY = "overlays/flink"
WORKER_POOL = "beam-worker-pool"


def _task_manager_pod(objects: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return _one(objects, "FlinkDeployment")["spec"]["taskManager"]["podTemplate"]


@needs_kubectl
def test_flink_overlay_renders_and_validates_what_has_a_schema() -> None:
    """kubernetes-validate has no FlinkDeployment CRD schema: its TaskManager pod template is validated as the Pod it is,
    its other fields (flinkVersion, resources, flinkConfiguration) only by the assertions here."""
    objects = _render(FLINK_OVERLAY)
    assert {item["kind"] for item in objects} == {"FlinkDeployment", "Deployment", "Service"}
    for item in objects:
        assert item["metadata"]["namespace"] == "retrain"
        if item["kind"] != "FlinkDeployment":
            kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
    flink = _one(objects, "FlinkDeployment")
    assert flink["apiVersion"] == "flink.apache.org/v1beta1"
    kubernetes_validate.validate(_task_manager_pod(objects), KUBERNETES_VERSION, strict=True)
    service, deployment = _one(objects, "Service"), _one(objects, "Deployment")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


@needs_kubectl
def test_flink_versions_agree_with_the_locked_beam() -> None:
    """Flink image, flinkVersion and Beam's job server are one Flink version that the installed Beam publishes a runner for,
    and the job server is the installed Beam's version."""
    import apache_beam
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    objects = _render(FLINK_OVERLAY)
    flink = _one(objects, "FlinkDeployment")["spec"]
    (job_server,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    version = flink["flinkVersion"].removeprefix("v").replace("_", ".")
    assert version in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    assert flink["image"].startswith(f"flink:{version}.")
    assert job_server["image"] == f"apache/beam_flink{version}_job_server:{apache_beam.__version__}"
    assert f"--flink-master={_one(objects, 'FlinkDeployment')['metadata']['name']}-rest:8081" in job_server["args"]


@needs_kubectl
def test_flink_worker_pool_runs_the_pipeline_image_where_the_documented_beam_args_point() -> None:
    objects = _render(FLINK_OVERLAY)
    pod = _task_manager_pod(objects)["spec"]
    pool = next(container for container in pod["containers"] if container["name"] == WORKER_POOL)
    assert pool["image"] == _config(_render("overlays/gke")).kubeflow.image
    assert {"name": "TF_USE_LEGACY_KERAS", "value": "1"} in pool["env"]  # the Evaluator's workers load tf_keras models
    (port,) = [p["containerPort"] for p in pool["ports"]]
    assert f"--service_port={port}" in pool["command"]
    documented = (KUBERNETES / "README.md").read_text()
    assert f"--environment_config=localhost:{port}" in documented
    (job_port,) = [p["port"] for p in _one(objects, "Service")["spec"]["ports"] if p["name"] == "job"]
    assert f"--job_endpoint={_one(objects, 'Service')['metadata']['name']}:{job_port}" in documented
    for item in objects:
        pods = [_task_manager_pod(objects)] if item["kind"] == "FlinkDeployment" else [item["spec"].get("template", {})]
        for each in pods:
            for container in each.get("spec", {}).get("containers", []):
                if "image" in container:
                    name, _, tag = container["image"].rsplit("/", 1)[-1].partition(":")
                    assert tag and tag != "latest", container["image"]
    assert restricted_violations(pod) == []
    assert restricted_violations(_one(objects, "Deployment")["spec"]["template"]["spec"]) == []
