"""`retrain compile`: the same pipeline definition compiled for Kubeflow Pipelines (and Vertex AI).

The compiled documents are parsed strictly (no unknown fields) into KFP's
protos and kfp-kubernetes' KubernetesExecutorConfig, and each executor config also
into the KubernetesExecutorConfig of the KFP backend it is written for
(tests/backend_protos.py: the protos the 2.4.0 and 2.5.0 drivers compile against).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.common.resolver import RESOLVER_CONFIG, Resolver
from tfx.types import Channel, standard_artifacts

from retrain.components.branches import BRANCHES
from retrain.components.resolvers.kfp.component import sqlite_connection
from retrain.components.kubeflow.entrypoint import COMMAND as STEP_COMMAND
from retrain.components.kubeflow.entrypoint import run_step
from retrain.components.torch_trainer.component import TorchTrainer
from backend_protos import BACKEND_PROTO, parse_executor_config
from mlmd_history import PIPELINE, History, record_history
from retrain.pipelines.cli import EXIT_OK, EXIT_USAGE, main
from retrain.pipelines.config import ConfigError, RetrainConfig, config_from_dict
from retrain.pipelines.kubeflow.compile import compile_pipeline_spec, config_for_cluster
from retrain.pipelines.kubeflow.settings import SUPPORTED_KFP_VERSIONS, KubeflowSettings
from retrain.pipelines.kubeflow.steps import SPAN_PROBE_ID
from retrain.pipelines.paths import resolve_run_paths
from retrain.pipelines.pipeline import create_pipeline

RESOLVER_STEPS = {"previous_label_map_resolver", "baseline_model_resolver"}
TORCH_RESOLVER_STEPS = {"torch_warm_start_resolver", "torch_baseline_model_resolver"}


@dataclass(frozen=True)
class Compiled:
    spec: pipeline_spec_pb2.PipelineSpec
    deployment: pipeline_spec_pb2.PipelineDeploymentConfig
    kubernetes: dict[str, Any]  # KubernetesExecutorConfig (JSON) per executor label
    document: dict[str, Any]  # the PipelineSpec as JSON


SHM = {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory", "sizeLimit": "2Gi"}
SERVING_VOLUME = {"pvcNameParameter": {"runtimeValue": {"constant": "retrain-serving"}}, "mountPath": "/serving"}


def _parsed(pipeline_doc: dict[str, Any], platform_doc: dict[str, Any], kfp_version: str = KubeflowSettings().kfp_version) -> Compiled:
    """The compiled kfp documents, parsed strictly: PipelineSpec, its deployment, executor configs (also by `kfp_version`'s proto)."""
    spec = json_format.ParseDict(pipeline_doc, pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec())
    executors = platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform.platforms["kubernetes"].deployment_spec.executors) == set(executors)
    for config in executors.values():
        json_format.ParseDict(config, k8s.KubernetesExecutorConfig())
        parse_executor_config(config, kfp_version)
    deployment = json_format.ParseDict(pipeline_doc["deploymentSpec"], pipeline_spec_pb2.PipelineDeploymentConfig())
    return Compiled(spec, deployment, executors, pipeline_doc)


@pytest.fixture(scope="module")
def compiled_by_cli(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    """`retrain compile --output pipeline.yaml` of the built-in example."""
    output = tmp_path_factory.mktemp("compile") / "pipeline.yaml"
    assert main(["compile", "--output", str(output)]) == EXIT_OK
    return _parsed(*yaml.safe_load_all(output.read_text()))


def _compile(raw: dict[str, Any], target: str = "kfp") -> dict[str, Any]:
    return compile_pipeline_spec(config_from_dict(raw), target)


@pytest.fixture(scope="module")
def compiled_both() -> Compiled:
    """The built-in example with `trainer: both`, compiled for kfp."""
    compiled = _compile({"trainer": "both"})
    return _parsed(compiled["pipeline_spec"], compiled["platform_spec"])


def test_kfp_has_no_resolver_executor_and_no_lifecycle_hook(compiled_by_cli: Compiled) -> None:
    spec, executors = compiled_by_cli.spec, compiled_by_cli.deployment.executors
    assert executors and all(executor.WhichOneof("spec") == "container" for executor in executors.values())
    assert not any(executor.container.HasField("lifecycle") for executor in executors.values())
    tasks = spec.root.dag.tasks
    assert RESOLVER_STEPS <= set(tasks)
    assert all(not tasks[step].caching_options.enable_cache for step in RESOLVER_STEPS)
    assert not any("framework" in tasks[step].inputs.parameters for step in RESOLVER_STEPS)  # trainer: tf: every model counts
    assert "retrain.components.kubeflow.example_gen.Executor" in " ".join(
        executors["ImportExampleGen_executor"].container.args
    )  # span resolved in its step
    for step in ("LabelPrep", "Trainer", "Evaluator"):  # they take an empty resolver output as no input
        assert f"retrain.components.kubeflow.optional_inputs.{step}Executor" in executors[f"{step}_executor"].container.args, step
    assert spec.schema_version == "2.1.0" and spec.default_pipeline_root == "minio://mlpipeline/v2/artifacts"
    parameters = spec.root.input_definitions.parameters
    assert (parameters["span"].default_value.number_value, parameters["epochs"].default_value.number_value) == (-1, 0)
    assert tasks["Trainer"].inputs.parameters["epochs"].component_input_parameter == "epochs"
    assert tasks["ImportExampleGen"].inputs.parameters["requested_span"].component_input_parameter == "span"


def test_only_the_trainer_gets_gpu_node_pool_toleration_and_shm(compiled_by_cli: Compiled) -> None:
    deployment, executors = compiled_by_cli.deployment, compiled_by_cli.kubernetes
    trainer = deployment.executors["Trainer_executor"].container.resources
    assert (trainer.accelerator.type, trainer.accelerator.count) == ("nvidia.com/gpu", 1)
    assert executors["Trainer_executor"]["nodeSelector"] == {"labels": {"cloud.google.com/gke-nodepool": "gpu-pool"}}
    assert executors["Trainer_executor"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert executors["Trainer_executor"]["emptyDirMounts"] == [SHM]
    for label, executor in deployment.executors.items():
        if label != "Trainer_executor":
            assert not executor.container.resources.HasField("accelerator"), label
            assert not {"nodeSelector", "tolerations", "emptyDirMounts"} & set(executors.get(label, {})), label
    assert all(config["pvcMount"] == [SERVING_VOLUME] for config in executors.values())  # the pushers' serving root


def test_gpu_count_zero_removes_accelerator_selector_and_toleration() -> None:
    compiled = _compile({"kubeflow": {"gpu": {"count": 0}, "serving_root": "gs://bucket/serving"}})
    executors = compiled["pipeline_spec"]["deploymentSpec"]["executors"]
    assert not any("accelerator" in e["container"].get("resources", {}) for e in executors.values())
    platform = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # gs:// serving root: no PVC either; what is left is the resolver steps' MinIO credentials (default minio:// root)
    assert platform and all(set(config) == {"secretAsEnv"} for config in platform.values())


def test_marked_steps_secrets_pull_secrets_and_volumes() -> None:
    compiled = _compile(
        {
            "kubeflow": {
                "pipeline_root": "gs://bucket/root",
                "serving_root": "gs://bucket/serving",
                "gpu": {"steps": ["Evaluator"], "node_pool": {"label": "karpenter.k8s.aws/instance-gpu-name", "value": "a10g"}, "tolerations": []},
                "resources": {"Evaluator": {"gpus": 2, "memory": "512Mi"}},
                "secrets": [{"secret": "hub", "key": "token", "env": "HUB_TOKEN"}, {"secret": "hub", "key": "user", "env": "HUB_USER"}],
                "image_pull_secrets": ["regcred"],
                "volumes": [{"claim": "datasets", "mount_path": "/data"}],
            }
        }
    )
    executors = compiled["pipeline_spec"]["deploymentSpec"]["executors"]
    assert executors["Evaluator_executor"]["container"]["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "2"}
    assert executors["Evaluator_executor"]["container"]["resources"]["memoryLimit"] == pytest.approx(512 * 2**20 / 1e9)
    configs = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    evaluator, transform = configs["Evaluator_executor"], configs["LabelMappedTransform_executor"]
    assert evaluator["nodeSelector"] == {"labels": {"karpenter.k8s.aws/instance-gpu-name": "a10g"}} and "tolerations" not in evaluator
    assert "nodeSelector" not in transform
    for config in (evaluator, transform):
        hub, regcred = ({"secretNameParameter": {"runtimeValue": {"constant": name}}} for name in ("hub", "regcred"))
        assert config["secretAsEnv"] == [
            {**hub, "keyToEnv": [{"secretKey": "token", "envVar": "HUB_TOKEN"}, {"secretKey": "user", "envVar": "HUB_USER"}]}
        ]
        assert config["imagePullSecret"] == [regcred]
        assert config["pvcMount"] == [{"pvcNameParameter": {"runtimeValue": {"constant": "datasets"}}, "mountPath": "/data"}]
        json_format.ParseDict(config, k8s.KubernetesExecutorConfig())


def test_span_window_is_a_container_step_feeding_training() -> None:
    data = {"path": "/data", "train_pattern": "span-{SPAN}/train/*", "eval_pattern": "span-{SPAN}/eval/*", "span_window": 2}
    spec = _compile({"data": data, "backbone": {"handle": "/models/backbone"}})["pipeline_spec"]
    tasks, executors = spec["root"]["dag"]["tasks"], spec["deploymentSpec"]["executors"]
    window = tasks["span_window_resolver"]
    assert window["inputs"]["artifacts"]["latest"]["taskOutputArtifact"]["producerTask"] == "ImportExampleGen"
    assert window["inputs"]["parameters"]["num_spans"]["runtimeValue"]["constant"] == 2
    assert window["cachingOptions"] == {"enableCache": False}
    for consumer in ("LabelPrep", "LabelMappedTransform", "Evaluator"):
        assert tasks[consumer]["inputs"]["artifacts"]["examples"]["taskOutputArtifact"]["producerTask"] == "span_window_resolver"
    assert all(set(executor) == {"container"} and "lifecycle" not in executor["container"] for executor in executors.values())


def test_vertex_keeps_tfx_defaults_and_parses_as_a_pipeline_job(tmp_path: Path) -> None:
    output, config = tmp_path / "vertex.json", tmp_path / "vertex.yaml"
    assert main(["compile", "--output", str(output), "--target", "vertex"]) == EXIT_USAGE  # the default root is MinIO's
    config.write_text(yaml.safe_dump({"kubeflow": {"pipeline_root": "gs://bucket/root"}}))
    assert main(["compile", "--config", str(config), "--output", str(output), "--target", "vertex"]) == EXIT_OK
    job = json_format.ParseDict(json.loads(output.read_text()), pipeline_spec_pb2.PipelineJob())
    assert job.runtime_config.gcs_output_directory == "gs://bucket/root"
    spec = json_format.MessageToDict(job.pipeline_spec)
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    deployment = json_format.ParseDict(spec["deploymentSpec"], pipeline_spec_pb2.PipelineDeploymentConfig())
    assert deployment.executors["ImportExampleGen_executor"].container.HasField("lifecycle")  # Vertex runs the driver
    assert deployment.executors["Trainer_executor"].container.resources.accelerator.type == "NVIDIA_TESLA_T4"
    assert not any(executor.HasField("resolver") for executor in deployment.executors.values())


@pytest.mark.parametrize(
    ("kubeflow", "message"),
    [
        ({"gpu": {"type": "nvidia.com/tpu"}}, "kubeflow.gpu.type: unknown GPU type 'nvidia.com/tpu'"),
        ({"gpu": {"node_pool": None}}, "kubeflow: GPUs are requested but kubeflow.gpu.node_pool is not set"),
        ({"gpu": {"steps": ["Trainr"]}}, "kubeflow.gpu.steps: no such step: Trainr"),
        ({"resources": {"TorchTrainer": {"cpu": 8}}}, "kubeflow.resources: no such step: TorchTrainer"),  # trainer: tf
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], kubeflow: dict, message: str) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"kubeflow": kubeflow}))
    output = tmp_path / "pipeline.json"
    assert main(["compile", "--config", str(tmp_path / "config.yaml"), "--output", str(output)]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert error.startswith(f"retrain: error: {message}") and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "config.yaml"]


@pytest.mark.parametrize(
    ("trainer", "resolvers"),
    [
        ("tf", RESOLVER_STEPS),
        ("torch", {"previous_label_map_resolver", "torch_baseline_model_resolver"}),
        ("both", RESOLVER_STEPS | TORCH_RESOLVER_STEPS),
    ],
)
def test_one_factory_for_both_runners(tmp_path: Path, trainer: str, resolvers: set[str]) -> None:
    """The local pipeline (BeamDagRunner, run by the e2e tests) and the Kubeflow one have the same steps."""
    config = config_for_cluster(RetrainConfig(trainer=trainer))
    local = create_pipeline(config, resolve_run_paths(config, tmp_path))
    kubeflow = create_pipeline(config, resolve_run_paths(config, tmp_path), target="kfp")
    assert [c.id for c in local.components] == [c.id for c in kubeflow.components if c.id != SPAN_PROBE_ID]  # kfp: + the span probe
    assert {c.id for c in local.components if isinstance(c, Resolver)} == resolvers
    assert not any(isinstance(c, Resolver) for c in kubeflow.components)
    local_filters = {c.id: c.exec_properties.get(RESOLVER_CONFIG, {}).get("framework") for c in local.components if isinstance(c, Resolver)}
    kubeflow_filters = {c.id: c.exec_properties.get("framework") for c in kubeflow.components if c.id in resolvers}
    assert local_filters == kubeflow_filters  # the container steps filter by framework exactly as the local strategies


def test_the_kubeflow_consumers_of_resolver_steps_are_their_local_components_with_other_executors(tmp_path: Path) -> None:
    """LabelPrep, the trainers and the evaluators: same class name, channels and parameters (the trainers + `epochs`)."""
    config = config_for_cluster(RetrainConfig(trainer="both"))
    local = {c.id: c for c in create_pipeline(config, resolve_run_paths(config, tmp_path)).components}
    kubeflow = {c.id: c for c in create_pipeline(config, resolve_run_paths(config, tmp_path), target="kfp").components}
    trainers = {branch.trainer_id for branch in BRANCHES}
    for node_id in {"LabelPrep", *trainers, *(branch.evaluator_id for branch in BRANCHES)}:
        before, after = local[node_id], kubeflow[node_id]
        assert type(after).__name__ == type(before).__name__ and type(after.executor_spec) is type(before.executor_spec), node_id
        assert issubclass(after.executor_spec.executor_class, before.executor_spec.executor_class), node_id
        assert after.executor_spec.executor_class.__module__ == "retrain.components.kubeflow.optional_inputs", node_id
        assert (after.inputs.keys(), after.outputs.keys()) == (before.inputs.keys(), before.outputs.keys()), node_id
        properties = dict(after.exec_properties)
        epochs = properties.pop("epochs", None)
        if node_id in trainers:
            assert (epochs.name, epochs.ptype, epochs.default) == ("epochs", int, 0), node_id
        else:
            assert epochs is None, node_id
        assert {k: str(v) for k, v in properties.items()} == {k: str(v) for k, v in before.exec_properties.items()}, node_id


def test_the_pytorch_trainer_refuses_a_parameter_its_spec_does_not_declare() -> None:
    examples, graph = Channel(type=standard_artifacts.Examples), Channel(type=standard_artifacts.TransformGraph)
    with pytest.raises(TypeError, match="TorchTrainer: unknown parameter epochs"):
        TorchTrainer(examples=examples, transform_graph=graph, custom_config={}, epochs=3)


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown target 'argo'"):
        compile_pipeline_spec(RetrainConfig(), "argo")


def _run_compiled_step(compiled: Compiled, step: str, inputs: dict[str, tuple[str, str]], history: History, outputs_dir: Path) -> dict[str, Path]:
    """Runs a compiled resolver step as KFP would start it; returns its output directories by key.

    Its compiled command and args, and an ExecutorInput with its compiled constant parameters, the ML Metadata
    of `history`, and `inputs` (key -> (uri, schema title)).
    """
    document = compiled.document
    component = document["components"][compiled.spec.root.dag.tasks[step].component_ref.name]
    container = document["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    assert container["command"] == list(STEP_COMMAND)
    constants = {
        name: parameter["runtimeValue"]["constant"]
        for name, parameter in document["root"]["dag"]["tasks"][step]["inputs"].get("parameters", {}).items()
        if "runtimeValue" in parameter
    }
    outputs = {
        key: {"artifacts": [{"name": f"runs/1/{key}", "uri": str(outputs_dir / key), "type": definition["artifactType"]}]}
        for key, definition in component["outputDefinitions"]["artifacts"].items()
    }
    executor_input = {
        "inputs": {
            "artifacts": {
                key: {"artifacts": [{"name": f"runs/1/{key}", "uri": uri, "type": {"schemaTitle": title}}]} for key, (uri, title) in inputs.items()
            },
            "parameterValues": {**constants, "pipeline_name": PIPELINE, "metadata_connection": sqlite_connection(str(history.path))},
        },
        "outputs": {"artifacts": outputs, "outputFile": str(outputs_dir / "executor_output.json")},
    }
    run_step([json.dumps(executor_input) if arg == "{{$}}" else arg for arg in container["args"]])
    return {key: outputs_dir / key for key in outputs}


def test_a_compiled_resolver_step_runs_through_the_container_entrypoint(compiled_by_cli: Compiled, tmp_path: Path) -> None:
    """The label-map resolver step as KFP would start it: compiled command and args, an ExecutorInput, its output file."""
    history = record_history(tmp_path / "mlmd", kfp=True)
    _run_compiled_step(compiled_by_cli, "previous_label_map_resolver", {"examples": (history.uris["E3"], "tfx.Examples")}, history, tmp_path)
    reported = json_format.Parse((tmp_path / "executor_output.json").read_text(), pipeline_spec_pb2.ExecutorOutput())
    [label_map], [model] = reported.artifacts["label_map"].artifacts, reported.artifacts["model"].artifacts
    assert label_map.uri == str(tmp_path / "label_map") and label_map.metadata["resolved_from"] == history.uris["L2"]  # copied into its output
    assert (tmp_path / "label_map" / "payload.txt").read_text() == "L2"
    assert model.uri == str(tmp_path / "model") and model.metadata["resolved_from"] == history.uris["M2"]


@pytest.mark.parametrize(
    ("trainer", "filters", "warm_start"),
    [
        ("torch", {"previous_label_map_resolver": "pytorch", "torch_baseline_model_resolver": "pytorch"}, "previous_label_map_resolver"),
        (
            "both",
            {
                "previous_label_map_resolver": "tensorflow",  # the label map follows the TF model
                "baseline_model_resolver": "tensorflow",
                "torch_warm_start_resolver": "pytorch",
                "torch_baseline_model_resolver": "pytorch",
            },
            "torch_warm_start_resolver",
        ),
    ],
)
def test_pytorch_trainers_compile_for_kfp_with_resolver_steps_of_their_framework(
    compiled_both: Compiled, trainer: str, filters: dict[str, str], warm_start: str
) -> None:
    if trainer == "both":
        compiled = compiled_both
    else:
        documents = _compile({"trainer": trainer})
        compiled = _parsed(documents["pipeline_spec"], documents["platform_spec"])
    tasks, executors = compiled.spec.root.dag.tasks, compiled.deployment.executors
    assert {"TorchTrainer", "TorchEvaluator", "TorchPusher"} <= set(tasks)
    assert {"Trainer", "Evaluator", "VersionedPusher"} <= set(tasks) if trainer == "both" else "Trainer" not in tasks
    compiled_filters = {
        name: task.inputs.parameters["framework"].runtime_value.constant.string_value
        for name, task in tasks.items()
        if "framework" in task.inputs.parameters
    }
    assert compiled_filters == filters
    assert all(not tasks[step].caching_options.enable_cache for step in filters)
    trainer_inputs, evaluator_inputs = tasks["TorchTrainer"].inputs, tasks["TorchEvaluator"].inputs
    assert trainer_inputs.artifacts["base_model"].task_output_artifact.producer_task == warm_start
    assert trainer_inputs.parameters["epochs"].component_input_parameter == "epochs"  # the same runtime parameter as the TF Trainer's
    assert evaluator_inputs.artifacts["baseline_model"].task_output_artifact.producer_task == "torch_baseline_model_resolver"
    if trainer == "both":
        assert tasks["Evaluator"].inputs.artifacts["baseline_model"].task_output_artifact.producer_task == "baseline_model_resolver"
    for step in ("TorchTrainer", "TorchEvaluator"):  # executors that take an empty resolver output as no input
        assert f"retrain.components.kubeflow.optional_inputs.{step}Executor" in executors[f"{step}_executor"].container.args
    push_destination = tasks["TorchPusher"].inputs.parameters["push_destination"].runtime_value.constant.string_value
    assert json.loads(push_destination)["filesystem"]["base_directory"] == "/serving/digits-torch"


def test_the_pytorch_trainer_gets_the_trainers_gpu_node_pool_shm_and_resources(compiled_both: Compiled) -> None:
    for step in ("Trainer", "TorchTrainer"):
        resources = compiled_both.deployment.executors[f"{step}_executor"].container.resources
        assert (resources.accelerator.type, resources.accelerator.count, resources.cpu_limit) == ("nvidia.com/gpu", 1, 4)
        assert resources.memory_limit == pytest.approx(16 * 2**30 / 1e9)  # the Trainer's entry: TorchTrainer has none of its own
        config = compiled_both.kubernetes[f"{step}_executor"]
        assert config["nodeSelector"] == {"labels": {"cloud.google.com/gke-nodepool": "gpu-pool"}}
        assert config["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert config["emptyDirMounts"] == [SHM]
    placed = {label for label, config in compiled_both.kubernetes.items() if {"nodeSelector", "emptyDirMounts"} & set(config)}
    assert placed == {"Trainer_executor", "TorchTrainer_executor"}


def test_the_pytorch_trainer_may_have_resources_of_its_own() -> None:
    resources = {"Trainer": {"cpu": 4, "memory": "16Gi"}, "TorchTrainer": {"cpu": 8, "gpus": 0}}
    compiled = _compile({"trainer": "both", "kubeflow": {"resources": resources}})
    executors = compiled["pipeline_spec"]["deploymentSpec"]["executors"]
    assert executors["TorchTrainer_executor"]["container"]["resources"] == {"cpuLimit": 8.0}
    assert executors["Trainer_executor"]["container"]["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "1"}
    configs = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert not {"nodeSelector", "tolerations", "emptyDirMounts"} & set(configs["TorchTrainer_executor"])


def test_the_tuners_train_on_their_trainers_gpu_and_resources() -> None:
    resources = {"Trainer": {"cpu": 4, "memory": "16Gi"}, "TorchTrainer": {"cpu": 8}, "TorchTuner": {"cpu": 2, "gpus": 2}}
    raw = {"trainer": "both", "training": {"validation_fraction": 0.2}, "tuning": {"enabled": True}, "kubeflow": {"resources": resources}}
    compiled = _compile(raw)
    executors = compiled["pipeline_spec"]["deploymentSpec"]["executors"]
    limits = {step: executors[f"{step}_executor"]["container"]["resources"] for step in ("Tuner", "Trainer", "TorchTuner", "TorchTrainer")}
    assert limits["Tuner"] == limits["Trainer"]  # no entry of its own: its trainer's
    assert limits["TorchTrainer"]["cpuLimit"] == 8.0 and limits["TorchTrainer"]["accelerator"]["count"] == "1"
    assert limits["TorchTuner"]["cpuLimit"] == 2.0 and limits["TorchTuner"]["accelerator"]["count"] == "2"
    configs = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {label for label, config in configs.items() if "nodeSelector" in config} == {f"{step}_executor" for step in limits}


def test_vertex_compiles_both_trainers() -> None:
    compiled = _compile({"trainer": "both", "kubeflow": {"pipeline_root": "gs://bucket/root"}}, "vertex")
    job = json_format.ParseDict(compiled, pipeline_spec_pb2.PipelineJob())
    spec = json_format.MessageToDict(job.pipeline_spec)
    deployment = json_format.ParseDict(spec["deploymentSpec"], pipeline_spec_pb2.PipelineDeploymentConfig())
    assert deployment.executors["TorchTrainer_executor"].container.resources.accelerator.type == "NVIDIA_TESLA_T4"
    assert TORCH_RESOLVER_STEPS <= set(spec["root"]["dag"]["tasks"])
    assert not any(executor.HasField("resolver") for executor in deployment.executors.values())
    caching = {name: task["cachingOptions"]["enableCache"] for name, task in compiled["pipelineSpec"]["root"]["dag"]["tasks"].items()}
    resolver_steps = {name for name in caching if name.endswith("_resolver")}
    assert len(resolver_steps) == 4 and not any(caching[name] for name in resolver_steps)  # always query MLMD
    assert all(caching[name] for name in set(caching) - resolver_steps)


def test_compiled_framework_filters_reach_the_resolver_steps(compiled_both: Compiled, tmp_path: Path) -> None:
    """`trainer: both`'s two baseline steps on a store of TF models only: the TF one resolves, the PyTorch one finds none."""
    history = record_history(tmp_path / "mlmd", kfp=True)  # models without a `framework` property: TF Trainer models
    candidate = {"candidate": (history.uris["M3"], "tfx.Model")}
    _run_compiled_step(compiled_both, "baseline_model_resolver", candidate, history, tmp_path / "tf")
    reported = json_format.Parse((tmp_path / "tf" / "executor_output.json").read_text(), pipeline_spec_pb2.ExecutorOutput())
    [model] = reported.artifacts["model"].artifacts
    assert model.uri == str(tmp_path / "tf" / "model") and model.metadata["resolved_from"] == history.uris["M2"]  # a copy of it
    torch_baseline = _run_compiled_step(compiled_both, "torch_baseline_model_resolver", candidate, history, tmp_path / "torch")
    assert list(torch_baseline["model"].iterdir()) == []  # empty: TorchEvaluator then runs without a baseline


_EVERY_NAMED_REFERENCE = {
    "secrets": [{"secret": "hub", "key": "token", "env": "HUB_TOKEN"}],
    "image_pull_secrets": ["regcred"],
    "volumes": [{"claim": "datasets", "mount_path": "/data"}],
}


@pytest.mark.parametrize("kfp_version", SUPPORTED_KFP_VERSIONS)
def test_platform_config_parses_with_the_proto_of_each_supported_backend(kfp_version: str) -> None:
    """Each executor config parses strictly with the KubernetesExecutorConfig that `kfp_version`'s driver unmarshals.

    kubeflow/pipelines backend/src/v2/cmd/driver/main.go: at 2.4.0 `jsonpb.UnmarshalString` (strict: an unknown
    field such as `pvcNameParameter` fails the driver of every step); at 2.4.1 and 2.5.0 `util.UnmarshalString`
    (backend/src/common/util/json.go, AllowUnknownFields: an unknown field is dropped, so a 2.5.0-shaped PVC would
    silently not be mounted on 2.4.1). 2.4.x's go.mod pins kubernetes_platform at d911c8b73b49 (no `*NameParameter`).
    """
    compiled = _compile({"trainer": "both", "kubeflow": {**_EVERY_NAMED_REFERENCE, "kfp_version": kfp_version}})
    parsed = _parsed(compiled["pipeline_spec"], compiled["platform_spec"], kfp_version)
    config = parsed.kubernetes["TorchTrainer_executor"]
    volumes = [mount["mountPath"] for mount in config["pvcMount"]]
    assert volumes == ["/serving", "/data"] and config["secretAsEnv"] and config["imagePullSecret"]
    message = parse_executor_config(config, kfp_version)
    assert [mount.mount_path for mount in message.pvc_mount] == volumes  # nothing dropped as unknown
    if BACKEND_PROTO[kfp_version] == "2.4.0":
        assert [mount.constant for mount in message.pvc_mount] == ["retrain-serving", "datasets"]
        assert (message.secret_as_env[0].secret_name, message.image_pull_secret[0].secret_name) == ("hub", "regcred")
    else:
        assert [mount.pvc_name_parameter.runtime_value.constant.string_value for mount in message.pvc_mount] == ["retrain-serving", "datasets"]
        assert message.secret_as_env[0].secret_name_parameter.runtime_value.constant.string_value == "hub"
        assert message.image_pull_secret[0].secret_name_parameter.runtime_value.constant.string_value == "regcred"


def test_the_2_5_shape_is_what_the_2_4_driver_refuses() -> None:
    """The reason for `kfp_version`: a 2.5.0 config (pvcNameParameter, secretNameParameter) does not parse with 2.4.0's proto."""
    compiled = _compile({"kubeflow": {**_EVERY_NAMED_REFERENCE, "kfp_version": "2.5.0"}})
    config = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["Trainer_executor"]
    with pytest.raises(json_format.ParseError, match='has no field named "(pvc|secret)NameParameter"'):
        parse_executor_config(config, "2.4.0")


def test_only_the_pytorch_steps_run_the_torch_image(compiled_both: Compiled) -> None:
    settings = KubeflowSettings()
    images = {label: executor.container.image for label, executor in compiled_both.deployment.executors.items()}
    torch_labels = {"TorchTrainer_executor", "TorchEvaluator_executor"}
    assert {images[label] for label in torch_labels} == {settings.torch_image} and settings.torch_image != settings.image
    assert {image for label, image in images.items() if label not in torch_labels} == {settings.image}
    single = _compile({"trainer": "both", "kubeflow": {"torch_image": None}})["pipeline_spec"]["deploymentSpec"]["executors"]
    assert {executor["container"]["image"] for executor in single.values()} == {settings.image}


def test_the_pytorch_tuner_runs_the_torch_image_and_feeds_the_pytorch_trainer() -> None:
    compiled = _compile({"trainer": "torch", "training": {"validation_fraction": 0.2}, "tuning": {"enabled": True}})
    executors = compiled["pipeline_spec"]["deploymentSpec"]["executors"]
    assert executors["TorchTuner_executor"]["container"]["image"] == KubeflowSettings().torch_image
    hyperparameters = compiled["pipeline_spec"]["root"]["dag"]["tasks"]["TorchTrainer"]["inputs"]["artifacts"]["hyperparameters"]
    assert hyperparameters["taskOutputArtifact"] == {"producerTask": "TorchTuner", "outputArtifactKey": "best_hyperparameters"}


@pytest.mark.parametrize(
    ("kubeflow", "message"),
    [
        ({"pipeline_root": "/pipeline-root"}, "kubeflow.pipeline_root: '/pipeline-root' is not an object-store URL"),
        ({"pipeline_root": "file:///pipeline-root"}, "kubeflow.pipeline_root: 'file:///pipeline-root' is not an object-store URL"),
        ({"kfp_version": "2.3.0"}, "kubeflow.kfp_version: unsupported Kubeflow Pipelines version '2.3.0'"),
        ({"image": "retrain:latest"}, "kubeflow.image: image 'retrain:latest' is not pinned"),
        ({"torch_image": "registry.example/retrain-torch"}, "kubeflow.torch_image: image 'registry.example/retrain-torch' is not pinned"),
        ({"serving_claim": None}, "kubeflow: serving_root /serving is a path but no volume holds it"),
        ({"serving_root": "s3://bucket/serving"}, "kubeflow.serving_root: 's3://bucket/serving': use a gs:// URL or an absolute path"),
    ],
)
def test_cluster_settings_are_checked_in_one_line(kubeflow: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict({"kubeflow": kubeflow})
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


@pytest.mark.parametrize("root", ["minio://mlpipeline/v2/artifacts", "s3://bucket/retrain", "gs://bucket"])
def test_object_store_roots_are_accepted(root: str) -> None:
    assert config_from_dict({"kubeflow": {"pipeline_root": root}}).kubeflow.pipeline_root == root
