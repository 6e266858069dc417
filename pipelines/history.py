"""`retrain history`: the recorded runs of an output directory, oldest first, one line each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional

from retrain.pipelines.report.spans import format_spans, span_of, used_examples
from retrain.pipelines.report.runs import list_runs, load_runs, open_existing_store
from retrain.pipelines.run_lock import run_in_progress
from retrain.pipelines.run_states import run_outcome
from retrain.pipelines.run_summary import ModelVerdict, shown_verdicts, summarize_steps

DASH = "-"


@dataclass(frozen=True)
class HistoryRow:
    """One run: when, on which data, with which trainer, how good, and what became of the model(s).

    With `trainer: both` accuracy, blessed and pushed hold one entry per framework (components/branches.py order: TensorFlow, then PyTorch).
    """

    run_id: str
    pipeline_name: str
    started: datetime
    spans: str
    trainer: str
    accuracy: tuple[Optional[float], ...]
    blessed: tuple[Optional[bool], ...]
    pushed: tuple[str, ...]
    outcome: str


def _pushed(verdict: ModelVerdict) -> str:
    if not verdict.pushed:
        return DASH
    return f"{verdict.push_version} (cached)" if verdict.push_reused else str(verdict.push_version)


def load_history(metadata_path: Path, pipeline_name: Optional[str] = None) -> list[HistoryRow]:
    """Every run recorded in `metadata_path` (of `pipeline_name` only, when given), oldest first.

    An unfinished run is `running` only when it is the newest and a live `retrain run` holds the store; else `interrupted`.
    """
    store = open_existing_store(metadata_path)
    rows = []
    refs = list_runs(store, pipeline_name)
    live = run_in_progress(metadata_path)
    for record in load_runs(store, refs):
        ref = record.ref
        verdicts = [verdict for _, verdict in shown_verdicts(summarize_steps(record.steps, brief=True))]
        spans = [span_of(examples) for examples in used_examples(record)]
        rows.append(
            HistoryRow(
                run_id=ref.run_id,
                pipeline_name=ref.pipeline_name,
                started=ref.started,
                spans=format_spans(spans) if spans else DASH,
                trainer="+".join(record.trainers) or DASH,
                accuracy=tuple(verdict.accuracy for verdict in verdicts),
                blessed=tuple(verdict.blessed for verdict in verdicts),
                pushed=tuple(_pushed(verdict) for verdict in verdicts),
                outcome=run_outcome(record.nodes, ref.state_mark, live=live and ref is refs[-1]),
            )
        )
    return rows


def _joined(values: Iterable[str]) -> str:
    """One cell for one value per framework: `0.8770/0.8650` with `trainer: both`."""
    return "/".join(values)


def format_history(rows: list[HistoryRow]) -> str:
    """An aligned text table (a `pipeline` column only when the store holds several pipelines)."""
    if not rows:
        return "no runs recorded"
    several = len({row.pipeline_name for row in rows}) > 1
    headers = ["run", "started", *(["pipeline"] if several else []), "spans", "trainer", "accuracy", "blessed", "pushed", "outcome"]
    table = [headers]
    for row in rows:
        table.append(
            [
                row.run_id,
                row.started.strftime("%Y-%m-%d %H:%M:%S"),
                *([row.pipeline_name] if several else []),
                row.spans,
                row.trainer,
                _joined(DASH if accuracy is None else f"{accuracy:.4f}" for accuracy in row.accuracy),
                _joined(DASH if blessed is None else "yes" if blessed else "no" for blessed in row.blessed),
                _joined(row.pushed),
                row.outcome,
            ]
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table)
