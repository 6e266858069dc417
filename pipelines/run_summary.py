"""What a finished run did, read back from its ML Metadata records and artifacts.

TensorFlow, TFX and TFMA load only where a full summary reads the gate's config, failures and
label map, or an evaluation on remote storage: `retrain history` (brief summaries) never imports them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

import ml_metadata as mlmd
from ml_metadata.metadata_store import ListOptions, OrderByField
from ml_metadata.proto import metadata_store_pb2

from retrain.components.branches import BRANCHES, BY_FRAMEWORK, ORIGINAL, Branch, branch_of_node
from retrain.components.image_example_gen.properties import ACCEPTED_COUNT_PROPERTY, REJECTED_COUNT_PROPERTY, REJECTED_DIR
from retrain.components.label_prep.type_name import LABEL_MAP_TYPE_NAME
from retrain.components.versioned_pusher.evaluation import ACCURACY_METRIC, BASELINE_LEFT_OUT_PROPERTY, task_accuracies
from retrain.components.versioned_pusher.properties import PUSH_OUTCOME_KEY

if TYPE_CHECKING:
    from tensorflow_model_analysis.proto import validation_result_pb2

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
NODE_CONTEXT = "node"
# One step of a run: its node id (None: unknown), its execution and the artifacts it output.
Step = tuple[Optional[str], metadata_store_pb2.Execution, list[metadata_store_pb2.Artifact]]


@dataclass(frozen=True)
class TaskAccuracy:
    """One task's eval accuracy in a model trained for several tasks: candidate, baseline and the gate's minimum."""

    task: str
    accuracy: Optional[float]
    baseline_accuracy: Optional[float]
    min_accuracy: Optional[float]


@dataclass
class ModelVerdict:
    """One framework's model in a run: metrics (the main task's; with several tasks also each task's), blessing and push outcome."""

    accuracy: Optional[float] = None
    baseline_accuracy: Optional[float] = None
    min_accuracy: Optional[float] = None  # the gate's minimum eval accuracy
    tasks: list[TaskAccuracy] = field(default_factory=list)  # several tasks only, the main one first
    baseline_left_out: Optional[str] = None  # why the evaluator compared with no baseline although one was resolved
    blessed: Optional[bool] = None
    validation_failures: list[str] = field(default_factory=list)
    pushed: bool = False
    push_path: Optional[str] = None
    push_version: Optional[str] = None
    push_outcome: str = "the Pusher did not run"
    push_reused: bool = False  # pushed by an earlier run: this run's pusher was served from cache


@dataclass
class RunSummary:
    """The verdict of one run: what it ingested and labelled, and per framework (components/branches.py) its model's verdict."""

    verdicts: dict[str, ModelVerdict] = field(default_factory=dict)  # framework -> verdict, for each branch that ran
    accepted_records: Optional[int] = None
    rejected_records: Optional[int] = None
    rejected_records_dir: Optional[str] = None
    classes: list[str] = field(default_factory=list)
    new_classes: list[str] = field(default_factory=list)
    label_problems: list[str] = field(default_factory=list)


def open_store(metadata_path: Path) -> mlmd.MetadataStore:
    """Opens the run's SQLite MLMD store read-write (MLMD has no read-only mode for SQLite)."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return mlmd.MetadataStore(config)


def last_execution_id(metadata_path: Path) -> int:
    """The highest execution id in the store (0 when there is no store yet); one indexed query, whatever the store holds."""
    if not metadata_path.exists():
        return 0
    newest = open_store(metadata_path).get_executions(list_options=ListOptions(limit=1, order_by=OrderByField.ID, is_asc=False))
    return newest[0].id if newest else 0


def executions_since(store: mlmd.MetadataStore, since_execution_id: int) -> list[metadata_store_pb2.Execution]:
    """The executions recorded after `since_execution_id`, oldest first, without reading the older ones."""
    return store.get_executions(list_options=ListOptions(order_by=OrderByField.ID, is_asc=True, filter_query=f"id > {since_execution_id}"))


def split_node_context(name: str) -> tuple[str, str]:
    """(pipeline name, node id) of a TFX node context `<pipeline>.<node id>`; a pipeline name may hold dots, a node id does not."""
    pipeline, _, node = name.rpartition(".")
    return pipeline, node


def node_of(store: mlmd.MetadataStore, execution_id: int) -> Optional[str]:
    """The pipeline node id (e.g. `Trainer`) an execution belongs to (one query)."""
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == NODE_CONTEXT:
            return split_node_context(context.name)[1]
    return None


def output_artifacts(store: mlmd.MetadataStore, execution_id: int) -> list[metadata_store_pb2.Artifact]:
    """The artifacts an execution produced (or, when cached, reused)."""
    events = store.get_events_by_execution_ids([execution_id])
    ids = [event.artifact_id for event in events if event.type in _OUTPUT_EVENTS]
    return store.get_artifacts_by_id(ids) if ids else []


def _min_accuracies(evaluation_uri: str) -> dict[str, float]:
    """The lower bound the evaluation's config set on the gate metric, per task ("" for a single task; {} without one)."""
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.proto import config_pb2
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    eval_config = load_eval_run(evaluation_uri)[0]
    if eval_config is None:
        return {}
    bounds = {}
    for key, conditions in metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config).items():
        for _, threshold in conditions:
            if key.name == ACCURACY_METRIC and isinstance(threshold, config_pb2.GenericValueThreshold) and threshold.HasField("lower_bound"):
                bounds[key.output_name or ""] = threshold.lower_bound.value
    return bounds


def _validation_failures(evaluation_uri: str) -> list[str]:
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(evaluation_uri)
    return [describe_failure(failure) for per_slice in result.metric_validations_per_slice for failure in per_slice.failures]


def describe_failure(failure: validation_result_pb2.ValidationFailure) -> str:
    """One line per failed threshold, e.g. `sparse_categorical_accuracy 0.61 is below the minimum 0.75` (with several
    tasks, `sparse_categorical_accuracy of task brand 0.61 ...`)."""
    key, threshold = failure.metric_key, failure.metric_threshold
    value = failure.metric_value.double_value.value
    name = f"{key.name} of task {key.output_name}" if key.output_name else key.name
    if key.is_diff:
        bound = threshold.change_threshold.absolute.value
        return f"{name} changed by {value:+.4f} vs. the baseline; the gate allows at least {bound:+.4f}"
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} {value:.4f} is below the minimum {bounds.lower_bound.value:.4f}"
    return f"{name} {value:.4f} fails its threshold: {failure.message or 'see the evaluation artifact'}"


def _read_run_artifact(type_name: str, artifact: metadata_store_pb2.Artifact, summary: RunSummary, brief: bool) -> None:
    """What the run ingested and labelled."""
    properties = artifact.custom_properties
    if type_name == "Examples" and REJECTED_COUNT_PROPERTY in properties:
        summary.accepted_records = properties[ACCEPTED_COUNT_PROPERTY].int_value
        summary.rejected_records = properties[REJECTED_COUNT_PROPERTY].int_value
        summary.rejected_records_dir = os.path.join(artifact.uri, REJECTED_DIR)
    elif type_name == LABEL_MAP_TYPE_NAME and not brief:
        from retrain.components.label_prep.label_map import load_label_map

        label_map = load_label_map(artifact.uri)
        summary.classes, summary.new_classes, summary.label_problems = label_map.labels, label_map.new_labels, label_map.problems


def _read_model_artifact(type_name: str, artifact: metadata_store_pb2.Artifact, verdict: ModelVerdict, brief: bool) -> None:
    """What became of a branch's model: its evaluation, blessing and push."""
    properties = artifact.custom_properties
    if type_name == "ModelBlessing":
        verdict.blessed = bool(properties["blessed"].int_value)
    elif type_name == "ModelEvaluation":
        accuracies = task_accuracies(artifact.uri)
        if BASELINE_LEFT_OUT_PROPERTY in properties:
            verdict.baseline_left_out = properties[BASELINE_LEFT_OUT_PROPERTY].string_value
        main_task = next(iter(accuracies), "")
        verdict.accuracy, verdict.baseline_accuracy = accuracies.get(main_task, (None, None))
        if not brief:
            minimums = _min_accuracies(artifact.uri)
            verdict.min_accuracy = minimums.get(main_task)
            verdict.validation_failures = _validation_failures(artifact.uri)
            if len(accuracies) > 1:
                verdict.tasks = [TaskAccuracy(task, *accuracy, minimums.get(task)) for task, accuracy in accuracies.items()]
    elif type_name == "PushedModel":
        verdict.pushed = bool(properties["pushed"].int_value)
        verdict.push_outcome = properties[PUSH_OUTCOME_KEY].string_value
        verdict.push_path = properties["pushed_destination"].string_value if "pushed_destination" in properties else None
        verdict.push_version = properties["pushed_version"].string_value if "pushed_version" in properties else None


def summarize_steps(steps: Iterable[Step], brief: bool = False) -> RunSummary:
    """Summarises a run's steps, in execution order: each branch's trainer, evaluator and pusher feed its framework's verdict.

    `brief`: only what `retrain history` shows (accuracies, blessing, push, trainers), without TensorFlow:
    no classes or label problems, gate minimum or gate failures.
    """
    summary = RunSummary()
    for node, execution, outputs in steps:
        for artifact in outputs:
            _read_run_artifact(artifact.type, artifact, summary, brief)
        branch = branch_of_node(node)
        if branch is None:
            continue
        verdict = summary.verdicts.setdefault(branch.framework, ModelVerdict())
        for artifact in outputs:
            _read_model_artifact(artifact.type, artifact, verdict, brief)
        cached = execution.last_known_state == metadata_store_pb2.Execution.CACHED
        verdict.push_reused = verdict.push_reused or (node == branch.pusher_id and cached and verdict.pushed)
    return summary


def summarize_run(metadata_path: Path, since_execution_id: int) -> RunSummary:
    """Summarises the executions recorded after `since_execution_id`."""
    store = open_store(metadata_path)
    executions = executions_since(store, since_execution_id)
    return summarize_steps((node_of(store, execution.id), execution, output_artifacts(store, execution.id)) for execution in executions)


def shown_verdicts(summary: RunSummary) -> list[tuple[Branch, ModelVerdict]]:
    """Each branch's verdict in BRANCHES order (TensorFlow, then PyTorch), for the branches that ran.

    Before any branch ran (a run that failed early) the original branch's empty verdict stands for the run.
    """
    shown = [(branch, summary.verdicts[branch.framework]) for branch in BRANCHES if branch.framework in summary.verdicts]
    return shown or [(ORIGINAL, ModelVerdict())]


def _accuracy_text(accuracy: float, baseline_accuracy: Optional[float], min_accuracy: Optional[float], left_out: Optional[str]) -> str:
    if baseline_accuracy is None:
        text = f"{accuracy:.4f} (no baseline: {'left out, ' + left_out if left_out else 'no other blessed model yet'})"
    else:
        text = f"{accuracy:.4f} (baseline {baseline_accuracy:.4f})"
    return text if min_accuracy is None else f"{text}, gate minimum {min_accuracy:.4f}"


def verdict_facts(verdict: ModelVerdict) -> list[tuple[str, str]]:
    """(label, text) of one model's accuracy vs. baseline and gate (each task's with several), blessing and push: the words of the summary and the report."""
    facts = []
    if verdict.tasks:
        facts.extend(
            (f"eval accuracy, task {task.task}", _accuracy_text(task.accuracy, task.baseline_accuracy, task.min_accuracy, verdict.baseline_left_out))
            for task in verdict.tasks
            if task.accuracy is not None
        )
    elif verdict.accuracy is not None:
        facts.append(("eval accuracy", _accuracy_text(verdict.accuracy, verdict.baseline_accuracy, verdict.min_accuracy, verdict.baseline_left_out)))
    if verdict.blessed is not None:
        facts.append(("blessed", "yes" if verdict.blessed else "no"))
    if verdict.push_reused:
        facts.append(
            ("nothing new pushed", f"inputs unchanged since the run that pushed version {verdict.push_version}; serving {verdict.push_path}")
        )
    elif verdict.pushed:
        facts.append(("pushed model", f"{verdict.push_path} (version {verdict.push_version})"))
    else:
        facts.append(("nothing pushed", verdict.push_outcome))
    return facts


def accuracy_comparison(summary: RunSummary) -> Optional[str]:
    """`eval accuracy, TensorFlow vs. PyTorch: ...` when several frameworks were evaluated (each against the first)."""
    evaluated = [(BY_FRAMEWORK[name], verdict.accuracy) for name, verdict in summary.verdicts.items() if verdict.accuracy is not None]
    evaluated.sort(key=lambda pair: BRANCHES.index(pair[0]))
    if len(evaluated) < 2:
        return None
    (first, first_accuracy), others = evaluated[0], evaluated[1:]
    comparisons = [
        f"{first.display_name} vs. {branch.display_name}: {first_accuracy:.4f} vs. {accuracy:.4f} ({100 * (accuracy - first_accuracy):+.2f} points)"
        for branch, accuracy in others
    ]
    return "eval accuracy, " + "; ".join(comparisons)


def format_summary(summary: RunSummary) -> str:
    """A short human-readable verdict for the end of `retrain run` (a titled block per framework unless the original ran alone)."""
    lines = []
    if summary.rejected_records is not None:
        rejected = f"; {summary.rejected_records} rejected, listed in {summary.rejected_records_dir}" if summary.rejected_records else ""
        lines.append(f"ingested: {summary.accepted_records} images{rejected}")
    if summary.classes:
        new = f" (new this run: {', '.join(summary.new_classes)})" if summary.new_classes else ""
        lines.append(f"classes: {len(summary.classes)}{new}")
    lines.extend(f"  label warning: {problem}" for problem in summary.label_problems)
    verdicts = shown_verdicts(summary)
    if len(verdicts) == 1 and verdicts[0][0].original:
        lines.extend(_verdict_lines(verdicts[0][1]))
    else:
        for branch, verdict in verdicts:
            lines.append(f"{branch.title}:")
            lines.extend(f"  {line}" for line in _verdict_lines(verdict))
    comparison = accuracy_comparison(summary)
    if comparison:
        lines.append(comparison)
    return "\n".join(lines)


def _verdict_lines(verdict: ModelVerdict) -> list[str]:
    """One model's verdict facts, with the gate's failures after the blessing."""
    lines = []
    for label, text in verdict_facts(verdict):
        lines.append(f"{label}: {text}")
        if label == "blessed":
            lines.extend(f"  gate failed: {failure}" for failure in verdict.validation_failures)
    return lines
