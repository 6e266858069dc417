"""`retrain history`: the recorded runs of an output directory, oldest first, one line each."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from pipelines.report.data import format_spans, span_of, used_examples
from pipelines.report.runs import list_runs, load_run, open_existing_store
from pipelines.run_summary import PUSHER_NODE, RunSummary, summarize_executions

DASH = "-"


@dataclass(frozen=True)
class HistoryRow:
    """One run: when, on which data, with which trainer, how good, and what became of the model."""

    run_id: str
    pipeline_name: str
    started: datetime
    spans: str
    trainer: str
    accuracy: Optional[float]
    blessed: Optional[bool]
    pushed: str
    outcome: str


def _pushed(summary: RunSummary) -> str:
    if not summary.pushed:
        return DASH
    return f"{summary.push_version} (cached)" if PUSHER_NODE in summary.cached_nodes else str(summary.push_version)


def load_history(metadata_path: Path, pipeline_name: Optional[str] = None) -> list[HistoryRow]:
    """Every run recorded in `metadata_path` (of `pipeline_name` only, when given), oldest first."""
    store = open_existing_store(metadata_path)
    rows = []
    for ref in list_runs(store, pipeline_name):
        record = load_run(store, ref)
        summary = summarize_executions(store, record.executions)
        spans = [span_of(examples) for examples in used_examples(record)]
        rows.append(
            HistoryRow(
                run_id=ref.run_id,
                pipeline_name=ref.pipeline_name,
                started=ref.started,
                spans=format_spans(spans) if spans else DASH,
                trainer="+".join(record.trainers) or DASH,
                accuracy=summary.accuracy,
                blessed=summary.blessed,
                pushed=_pushed(summary),
                outcome=record.outcome,
            )
        )
    return rows


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
                DASH if row.accuracy is None else f"{row.accuracy:.4f}",
                DASH if row.blessed is None else "yes" if row.blessed else "no",
                row.pushed,
                row.outcome,
            ]
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table)
