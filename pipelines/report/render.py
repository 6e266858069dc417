"""Renders a RunReport as one self-contained HTML page: inline CSS, PNG figures as data URIs, no scripts.

The markup is well-formed XML as well (every element closed, void elements self-closed),
so it parses strictly with an XML parser and opens in any browser offline.
"""

from __future__ import annotations

import html
from typing import Iterable, Optional, Sequence

from retrain.components.label_prep.label_map import LabelMap
from retrain.pipelines.report import plots
from retrain.pipelines.report.collect import RunReport, TrainerRun, describe_baselines
from retrain.pipelines.report.data import DataReport
from retrain.pipelines.report.evaluation import Evaluation, ModelResult
from retrain.pipelines.report.settings import shown_settings
from retrain.components.branches import Branch
from retrain.pipelines.run_summary import ModelVerdict, accuracy_comparison, verdict_facts

DASH = "\u2014"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #555; margin-top: 0; }
.verdict { font-size: 1.25em; padding: 0.6em 0.9em; border-radius: 6px; }
.good { background: #e3f4e1; border: 1px solid #6bb36b; }
.bad { background: #fbe4e1; border: 1px solid #d9776b; }
.neutral { background: #eef1f6; border: 1px solid #98a6bd; }
.verdicts { display: flex; flex-wrap: wrap; gap: 0 2em; } .framework { flex: 1 1 28em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.new td { background: #fff4c2; font-weight: bold; }
.pass { color: #1d7a1d; font-weight: bold; } .fail { color: #b3261e; font-weight: bold; }
img { max-width: 100%; height: auto; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Optional[float], digits: int = 4) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _count(value: Optional[float]) -> str:
    return DASH if value is None else str(round(value))


def _cell(value: str, numeric: bool = False) -> str:
    return f'<td class="num">{value}</td>' if numeric else f"<td>{value}</td>"


def _table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Optional[Sequence[str]] = None) -> str:
    """A table of already-escaped cells; cells that look numeric are right-aligned."""
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = []
    for index, row in enumerate(rows):
        css = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        cells = "".join(_cell(cell, numeric=_looks_numeric(cell)) for cell in row)
        body.append(f"<tr{css}>{cells}</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _looks_numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("-", "", 1).replace("+", "", 1).isdigit()


def _image(png: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{png}" alt="{_e(alt)}"/>'


def _list(items: Iterable[str], list_id: str) -> str:
    return f'<ul id="{list_id}">' + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>'


def _model_label(model: ModelResult) -> str:
    return model.name or "candidate"


def _task_title(task: str) -> str:
    return f" — task {task}" if task else ""


def _run_failure(report: RunReport) -> Optional[str]:
    failed = [step for step in report.steps if step.state in ("failed", "canceled")]
    return f"The run failed at {failed[0].node_id}: {failed[0].error or failed[0].state}" if failed else None


def _headline(verdict: ModelVerdict) -> tuple[str, str]:
    """(css class, text) of one model's verdict line."""
    if verdict.blessed is None:
        return "neutral", "No verdict: the run did not reach the Evaluator"
    if not verdict.blessed:
        return "bad", "Not blessed: the candidate failed the gate, nothing was pushed"
    if verdict.push_reused:
        return "good", f"Blessed; nothing new pushed: inputs unchanged since the run that pushed version {verdict.push_version}"
    if verdict.pushed:
        return "good", f"Blessed and pushed as version {verdict.push_version} to {verdict.push_path}"
    return "neutral", f"Blessed, not pushed: {verdict.push_outcome}"


def _framework_verdict(branch: Branch, verdict: ModelVerdict, baseline: Optional[str]) -> str:
    """One model's box: headline, the facts the run summary prints, its baseline and why it failed the gate."""
    css, text = _headline(verdict)
    name = branch.framework
    if baseline and verdict.baseline_left_out:
        baseline = f"{baseline}; not compared: {verdict.baseline_left_out}"
    facts = [*verdict_facts(verdict), ("baseline model", baseline or "none (no other blessed model yet)")]
    parts = [
        f"<h3>{_e(branch.title)}</h3>",
        f'<p class="verdict {css}" id="headline-{name}">{_e(text)}</p>',
        _table(f"verdict-facts-{name}", ["", ""], [(f"<b>{_e(key)}</b>", _e(value)) for key, value in facts]),
    ]
    if verdict.validation_failures:
        parts.append("<p>Why it was not blessed:</p>" + _list(verdict.validation_failures, f"gate-failures-{name}"))
    return f'<div class="framework" id="verdict-{name}">{"".join(parts)}</div>'


def _verdict(report: RunReport) -> str:
    """The run's failure (if any), then each trained framework's model side by side, then the gate's thresholds."""
    parts = []
    failure = _run_failure(report)
    if failure:
        parts.append(f'<p class="verdict bad" id="run-failure">{_e(failure)}</p>')
    boxes = [_framework_verdict(branch, verdict, report.baselines.get(branch.framework)) for branch, verdict in report.verdicts]
    parts.append(f'<div class="verdicts">{"".join(boxes)}</div>')
    comparison = accuracy_comparison(report.summary)
    if comparison:
        parts.append(f'<p id="framework-comparison">{_e(comparison)}</p>')
    if report.evaluation and report.evaluation.thresholds:
        several = len(report.evaluation.tasks) > 1
        rows = [
            (
                _e(threshold.metric),
                _e(threshold.model or "candidate"),
                *([_e(threshold.task)] if several else []),
                _e(threshold.condition),
                _num(threshold.value),
                '<span class="pass">pass</span>' if threshold.passed else '<span class="fail">FAIL</span>',
            )
            for threshold in report.evaluation.thresholds
        ]
        headers = ["metric", "model", *(["task"] if several else []), "condition", "value", "result"]
        parts.append("<h3>Gate thresholds</h3>" + _table("thresholds", headers, rows))
    return _section("verdict", "Verdict", "".join(parts))


def _class_names(report: RunReport, class_ids: Sequence[int], task: str = "") -> list[str]:
    """The names of `class_ids` in `task`'s label map ("": the main task's)."""
    label_map = report.data.task_label_maps.get(task) if task else report.data.label_map
    labels = label_map.labels if label_map else []
    return [labels[i] if 0 <= i < len(labels) else "(none)" if i < 0 else f"#{i}" for i in class_ids]


def _overall(evaluation: Evaluation, table_id: str = "overall-metrics") -> str:
    names = sorted({name for model in evaluation.models for name in model.metrics})
    with_diffs = [model for model in evaluation.candidates if model.diffs]
    headers = ["metric", *(_model_label(model) for model in evaluation.models), *(f"change ({_model_label(m)})" for m in with_diffs)]
    rows = []
    for name in names:
        digits = 0 if name == "example_count" else 4
        values = [_num(model.metrics.get(name), digits) for model in evaluation.models]
        changes = [DASH if name not in m.diffs else f"{m.diffs[name]:+.{digits}f}" for m in with_diffs]
        rows.append((_e(name), *values, *changes))
    return _table(table_id, headers, rows)


def _per_class(report: RunReport, evaluation: Evaluation, task: str = "") -> str:
    """Per-class precision/recall table and chart, and each model's confusion matrix, of one task's results in `evaluation`."""
    models = [model for model in evaluation.models if model.confusion is not None]
    if not models:
        return "<p>No confusion matrix was computed for this run.</p>"
    scores = {_model_label(model): model.confusion.scores() for model in models}
    class_ids = sorted({class_id for per_class in scores.values() for class_id in per_class})
    names = _class_names(report, class_ids, task)
    series = {
        f"{metric} ({label})": [getattr(per_class.get(class_id), metric, None) for class_id in class_ids]
        for label, per_class in scores.items()
        for metric in ("precision", "recall")
    }
    first = scores[_model_label(models[0])]
    rows = []
    for index, (class_id, name) in enumerate(zip(class_ids, names)):
        support = _count(first[class_id].support if class_id in first else None)
        rows.append((str(class_id), _e(name), support, *(_num(values[index]) for values in series.values())))
    of_task = _task_title(task)
    figures = [_image(plots.per_class_png(names, series), f"per-class precision and recall{of_task}")]
    for model in models:
        label = _model_label(model)
        png = plots.confusion_png(
            model.confusion.counts, _class_names(report, model.confusion.class_ids, task), f"confusion matrix: {label}{of_task}"
        )
        figures.append(_image(png, f"confusion matrix of the {label} model{of_task}"))
    table_id = f"per-class-{task}" if task else "per-class"
    return _table(table_id, ["id", "class", "support", *series], rows) + "<div>" + "".join(figures) + "</div>"


def _metrics(report: RunReport) -> str:
    evaluation = report.evaluation
    if evaluation is None:
        return _section("metrics", "Candidate vs. baseline", "<p>The Evaluator did not run in this run.</p>")
    intro = (
        f"<p>Evaluated on the eval split; baseline: {_e(describe_baselines(report.baselines))}.</p>"
        if report.baselines
        else "<p>No baseline: there was no other blessed model to compare with.</p>"
    )
    parts = [intro]
    for task in evaluation.tasks:
        of_task, suffix = _task_title(task), f"-{task}" if task else ""
        results = evaluation.of_task(task)
        parts.append(f"<h3>Overall{_e(of_task)}</h3>" + _overall(results, f"overall-metrics{suffix}"))
        parts.append(f"<h3>Per class{_e(of_task)}</h3>" + _per_class(report, results, task))
    return _section("metrics", "Candidate vs. baseline", "".join(parts))


def _trainer(trainer: TrainerRun, label_map: Optional[LabelMap]) -> str:
    parts = [f"<h3>{_e(trainer.node_id)} ({_e(trainer.framework)}, {_e(trainer.state)})</h3>"]
    if trainer.curves:
        parts.append(_image(plots.curves_png(trainer.curves), f"training curves of {trainer.node_id}"))
        rows = []
        for metric, subsets in sorted(trainer.curves.items()):
            for subset, points in sorted(subsets.items()):
                values = [value for _, value in points]
                best = min(values) if metric == "loss" else max(values)
                rows.append((_e(metric), _e(subset), str(points[-1][0]), _num(values[-1]), _num(best)))
        parts.append(_table(f"curves-{trainer.node_id}", ["metric", "data", "epochs", "last", "best"], rows))
    else:
        parts.append("<p>No training curves were logged.</p>")
    settings = [(_e(key), _e(value)) for key, value in shown_settings(trainer.settings, label_map, trainer.framework)]
    settings_table = _table(f"settings-{trainer.node_id}", ["setting", "value"], settings)
    parts.append(f"<details><summary>trainer settings</summary>{settings_table}</details>")
    return "".join(parts)


def _training(report: RunReport) -> str:
    body = "".join(_trainer(trainer, report.data.label_map) for trainer in report.trainers) or "<p>No model was trained in this run.</p>"
    return _section("training", "Training", body)


def _examples(data: DataReport) -> str:
    if not data.spans:
        return "<p>No examples were ingested.</p>"
    splits = sorted({split for span in data.spans for split in span.examples_per_split}, key=lambda s: (s != "train", s))
    counted = any(span.rejected is not None for span in data.spans)
    headers = ["span", *splits, *(["accepted", "rejected"] if counted else [])]
    rows = []
    for span in data.spans:
        ingested = [_count(span.accepted), _count(span.rejected)] if counted else []
        rows.append((str(span.span), *(_count(span.examples_per_split.get(split)) for split in splits), *ingested))
    return _table("examples", headers, rows)


def _label_map(data: DataReport) -> str:
    """The label map (with several tasks, each task's) with per-split counts and class weights, new classes highlighted."""
    if data.label_map is None:
        return "<p>No label map: the run stopped before LabelPrep.</p>"
    if not data.task_label_maps:
        return _one_label_map(data.label_map, data.previous_label_map, "")
    return "".join(
        f"<h3>Task {_e(task)}</h3>" + _one_label_map(label_map, data.previous_label_map, task) for task, label_map in data.task_label_maps.items()
    )


def _one_label_map(label_map: LabelMap, had_previous: bool, task: str) -> str:
    splits = sorted(label_map.counts, key=lambda s: (s != "train", s))
    rows, classes = [], []
    for class_id, label in enumerate(label_map.labels):
        new = label in label_map.new_labels
        weight = label_map.class_weights[class_id] if class_id < len(label_map.class_weights) else None
        counts = [_count(label_map.counts[split].get(label, 0)) for split in splits]
        rows.append((str(class_id), _e(label) + (" (new)" if new else ""), *counts, _num(weight, 3)))
        classes.append("new" if new else "")
    if label_map.new_labels:
        note = f"Classes added since the last blessed model (highlighted): {', '.join(label_map.new_labels)}."
    elif had_previous:
        note = "No classes added since the last blessed model."
    else:
        note = "First label map: there was no blessed model before."
    suffix = f"-{task}" if task else ""
    parts = [f"<p>{_e(note)}</p>", _table(f"label-map{suffix}", ["id", "label", *splits, "class weight"], rows, classes)]
    if label_map.problems:
        parts.append("<p>Label problems:</p>" + _list(label_map.problems, f"label-problems{suffix}"))
    return "".join(parts)


def _rejections(data: DataReport) -> str:
    if not any(span.rejected is not None for span in data.spans):
        return "<p>Not counted: this ExampleGen does not reject records (TFRecord and CSV input).</p>"
    if not data.rejected:
        return '<p id="rejected-count">0 records rejected.</p>'
    where = ", ".join(f"<code>{_e(path)}</code>" for path in data.rejected_dirs)
    rows = [(_e(sample.path), _e(sample.reason)) for sample in data.rejection_samples]
    count = f'<p id="rejected-count">{data.rejected} records rejected; all listed in {where}.</p>'
    return count + _table("rejected", ["path", "reason"], rows)


def _anomalies(data: DataReport) -> str:
    if data.anomalies is None:
        return "<p>Not checked: ExampleValidator did not run.</p>"
    if not data.anomalies:
        return '<p id="anomalies">None: the data matches the schema.</p>'
    return _list(data.anomalies, "anomalies")


def _data(report: RunReport) -> str:
    data = report.data
    body = (
        "<h3>Examples per span and split</h3>"
        + _examples(data)
        + "<h3>Label map</h3>"
        + _label_map(data)
        + "<h3>Rejected records</h3>"
        + _rejections(data)
        + "<h3>Schema anomalies (TFDV)</h3>"
        + _anomalies(data)
    )
    return _section("data", "Data", body)


def _lineage(report: RunReport) -> str:
    rows = [(f"<b>{_e(key)}</b>", _e(value)) for key, value in report.lineage]
    steps = [(_e(step.node_id), _e(step.state), _num(step.seconds, 1), _e(step.error or "")) for step in report.steps]
    body = _table("lineage", ["", ""], rows) + "<h3>Steps</h3>" + _table("steps", ["node", "state", "seconds", "error"], steps)
    return _section("lineage", "Lineage", body)


def render_report(report: RunReport) -> str:
    """The whole page."""
    ref = report.ref
    title = f"retrain report: {ref.pipeline_name}, run {ref.run_id}"
    started = ref.started.strftime("%Y-%m-%d %H:%M:%S")
    header = f'<h1>{_e(title)}</h1><p class="meta">started {started} \u00b7 outcome: <span id="outcome">{_e(report.outcome)}</span></p>'
    sections = [_verdict(report), _metrics(report), _training(report), _data(report), _lineage(report)]
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"/><title>{_e(title)}</title><style>{_STYLE}</style></head>'
        f"<body>{header}{''.join(sections)}</body></html>\n"
    )
