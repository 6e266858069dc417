"""Writes a run's report file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from retrain.pipelines.report.collect import collect_report
from retrain.pipelines.report.render import render_report
from retrain.pipelines.report.runs import find_run, open_existing_store

REPORT_FILE = "report.html"


def write_report(metadata_path: Path, html_path: Path, run_id: Optional[str] = None, pipeline_name: Optional[str] = None) -> Path:
    """Writes the report of run `run_id` (default: the latest run, of `pipeline_name` when given) to `html_path`."""
    store = open_existing_store(metadata_path)
    report = collect_report(store, find_run(store, run_id, pipeline_name))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    staging = html_path.with_name(f".{html_path.name}.tmp")
    staging.write_text(render_report(report), encoding="utf-8")
    staging.replace(html_path)
    return html_path.resolve()
