"""Everything the report shows about one run, gathered from ML Metadata and the run's artifacts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.portable.mlmd import execution_lib

from retrain.components.trainer_settings import SETTINGS_KEY
from retrain.pipelines.report.data import DataReport, load_data
from retrain.pipelines.report.spans import format_spans
from retrain.pipelines.report.evaluation import Evaluation, load_evaluation
from retrain.pipelines.report.runs import NodeRun, RunRecord, RunRef, derived_artifacts, load_run, producing_run, trainer_framework
from retrain.pipelines.report.training import Curves, load_curves
from retrain.components.branches import BRANCHES, BY_FRAMEWORK, Branch
from retrain.pipelines.run_summary import ModelVerdict, RunSummary, shown_verdicts, summarize_steps

# Execution properties that follow the data rather than the configuration (ExampleGen's driver adds them).
_DATA_PROPERTIES = frozenset({"span", "version", "input_fingerprint"})
NONE = "none"


@dataclass
class TrainerRun:
    """One trainer node of the run: framework, settings (its `custom_config`) and per-epoch curves."""

    node_id: str
    framework: str
    state: str
    settings: dict[str, Any]
    curves: Curves
    model_uri: Optional[str]
    base_model: Optional[str]


@dataclass(frozen=True)
class Step:
    """One node's execution: state and wall time, or the error it failed with."""

    node_id: str
    state: str
    seconds: float
    error: Optional[str] = None


@dataclass
class RunReport:
    """The report's content; sections render from these fields."""

    ref: RunRef
    outcome: str
    summary: RunSummary
    steps: list[Step]
    trainers: list[TrainerRun]
    evaluation: Optional[Evaluation]
    baselines: dict[str, str]  # framework -> the model its candidate was compared with (absent: none)
    data: DataReport
    lineage: list[tuple[str, str]] = field(default_factory=list)

    @property
    def verdicts(self) -> list[tuple[Branch, ModelVerdict]]:
        """The verdict of each branch that ran (TensorFlow first), as the run summary gives them."""
        return shown_verdicts(self.summary)


def _error(node: NodeRun) -> Optional[str]:
    if node.state != "failed":
        return None
    result = execution_lib.get_execution_result(node.execution, ignore_parse_errors=True)
    return result.result_message if result and result.result_message else "see the output of `retrain run`"


def _settings(node: NodeRun) -> dict[str, Any]:
    """A node's recorded `custom_config`, its nested `settings` (components/trainer_settings.py) flattened into it."""
    raw = node.property("custom_config")
    recorded = json.loads(raw) if raw else {}
    nested = recorded.pop(SETTINGS_KEY, None)
    return {**recorded, **nested} if isinstance(nested, dict) else recorded


def _backbone(trainer: TrainerRun) -> Optional[str]:
    """The backbone a trainer trained: its branch's backbone setting (the TF handle, the PyTorch checkpoint); None for an unknown trainer."""
    branch = BY_FRAMEWORK.get(trainer.framework)
    return trainer.settings.get(branch.backbone_setting) if branch else None


def _trainer(store: mlmd.MetadataStore, node: NodeRun) -> TrainerRun:
    model, model_run, base_model = node.output("model"), node.output("model_run"), node.input("base_model")
    return TrainerRun(
        node_id=node.node_id,
        framework=trainer_framework(node),
        state=node.state,
        settings=_settings(node),
        curves=load_curves(model_run.uri) if model_run else {},
        model_uri=model.uri if model else None,
        base_model=describe_model(store, base_model) if base_model else None,
    )


def describe_model(store: mlmd.MetadataStore, model: metadata_store_pb2.Artifact) -> str:
    """`model #9 from run <id>, pushed as version 1` (as far as the store knows)."""
    run = producing_run(store, model.id)
    pushed = [
        push.custom_properties["pushed_version"].string_value
        for push in derived_artifacts(store, model.id, "PushedModel")
        if push.custom_properties["pushed"].int_value and "pushed_version" in push.custom_properties
    ]
    origin = f" from run {run}" if run else ""
    deployed = f", pushed as version {', '.join(sorted(set(pushed), key=int))}" if pushed else ", never pushed"
    return f"model #{model.id}{origin}{deployed}"


def config_hash(record: RunRecord) -> str:
    """Short SHA-256 of every node's execution properties in this run (data fingerprints left out).

    Equal hashes mean the pipeline ran with the same settings (including the code version
    the trainers record), whatever data it saw.
    """
    digest = hashlib.sha256()
    for node_id, node in sorted(record.nodes.items()):
        for name, value in sorted(node.execution.custom_properties.items()):
            if name.startswith("__") or name in _DATA_PROPERTIES:
                continue
            digest.update(f"{node_id}.{name}={value.SerializeToString(deterministic=True).hex()}\n".encode())
    return digest.hexdigest()[:16]


def describe_baselines(baselines: dict[str, str]) -> str:
    """The baseline model(s): one description, or `tensorflow: ...; pytorch: ...` when both frameworks had one."""
    if len(baselines) == 1:
        return next(iter(baselines.values()))
    return "; ".join(f"{framework}: {description}" for framework, description in baselines.items()) or NONE


def _lineage(record: RunRecord, trainers: list[TrainerRun], baselines: dict[str, str], data: DataReport) -> list[tuple[str, str]]:
    settings = trainers[0].settings if trainers else {}
    transform = record.node("LabelMappedTransform")
    code_version = settings.get("code_version") or (_settings(transform).get("code_version") if transform else None)
    lineage = [
        ("backbone", ", ".join(sorted({backbone for backbone in map(_backbone, trainers) if backbone})) or NONE),
        ("config hash", config_hash(record)),
        ("code version", code_version or NONE),
        ("data spans", format_spans(data.span_numbers)),
        ("warm start from", ", ".join(t.base_model for t in trainers if t.base_model) or NONE),
        ("baseline", describe_baselines(baselines)),
    ]
    lineage += [(f"model ({t.framework})", t.model_uri or NONE) for t in trainers]
    return lineage


def _baselines(store: mlmd.MetadataStore, record: RunRecord) -> dict[str, str]:
    """Per framework whose evaluator had one: the baseline model it compared the candidate with."""
    baselines = {}
    for branch in BRANCHES:
        evaluator = record.node(branch.evaluator_id)
        model = evaluator.input("baseline_model") if evaluator else None
        if model is not None:
            baselines[branch.framework] = describe_model(store, model)
    return baselines


def _evaluation(record: RunRecord) -> Optional[Evaluation]:
    """The run's evaluations; with `trainer: both` one, the other branches' models and thresholds prefixed with their framework (`pytorch candidate`)."""
    found = []
    for branch in BRANCHES:
        node = record.node(branch.evaluator_id)
        artifact = node.output("evaluation") if node else None
        if artifact is not None:
            found.append(("" if branch.original else f"{branch.framework} ", load_evaluation(artifact.uri)))
    if len(found) < 2:
        return found[0][1] if found else None
    merged = Evaluation(models=[], thresholds=[])
    for prefix, evaluation in found:
        rename = (lambda name, p=prefix: p + (name or "candidate")) if prefix else (lambda name: name)
        merged.models += [replace(model, name=rename(model.name)) for model in evaluation.models]
        merged.thresholds += [replace(threshold, model=rename(threshold.model)) for threshold in evaluation.thresholds]
    return merged


def collect_report(store: mlmd.MetadataStore, ref: RunRef) -> RunReport:
    """Reads everything the report shows about run `ref`."""
    record = load_run(store, ref)
    baselines = _baselines(store, record)
    trainers = [_trainer(store, node) for node in record.nodes_with_output("Model")]
    data = load_data(store, record)
    return RunReport(
        ref=ref,
        outcome=record.outcome,
        summary=summarize_steps(record.steps),
        steps=[Step(node.node_id, node.state, node.seconds, _error(node)) for node in record.nodes.values()],
        trainers=trainers,
        evaluation=_evaluation(record),
        baselines=baselines,
        data=data,
        lineage=_lineage(record, trainers, baselines, data),
    )
