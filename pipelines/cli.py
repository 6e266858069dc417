"""The `retrain` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.pipelines.config_error import ConfigError
from retrain.pipelines.paths import DEFAULT_OUTPUT_DIR, default_metadata_path, resolve_run_paths
from retrain.pipelines.progress import error_line, failure_line, install_progress
from retrain.pipelines.run_lock import RunLocked

if TYPE_CHECKING:
    from retrain.pipelines.config import RetrainConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain", description="Transfer-learning and retraining pipelines on TFX.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline locally (built-in digits example without --config)")
    run.add_argument("--config", type=Path, help="YAML config file (default: the built-in example)")
    run.add_argument("--runner", choices=["beam", "local"], help="override runner.type from the config")
    run.add_argument("--output", type=Path, default=DEFAULT_OUTPUT_DIR, help="where the run writes (default: %(default)s)")
    run.add_argument("--verbose", action="store_true", help="full TFX/Beam logs and tracebacks")

    show = commands.add_parser("config", help="print the effective config, every default filled in")
    show.add_argument("--config", type=Path, help="YAML config file (default: the built-in example)")

    report = commands.add_parser("report", help="write a self-contained HTML report of a run (default: the latest)")
    _store_arguments(report)
    report.add_argument("--run", metavar="ID", help="the run to report (default: the latest; `retrain history` lists them)")
    report.add_argument("--html", type=Path, metavar="FILE", help="where to write the report (default: OUTPUT/report.html)")

    history = commands.add_parser("history", help="list the recorded runs, oldest first")
    _store_arguments(history)

    export_text = commands.add_parser(
        "export-hub-text", help="convert a local Hugging Face BERT checkpoint into a TF Hub module that takes raw strings"
    )
    export_text.add_argument("checkpoint_dir", type=Path, metavar="CHECKPOINT_DIR", help="config.json, model.safetensors, vocab.txt, ...")
    export_text.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="where the SavedModel goes (must not exist or be empty)")
    export_text.add_argument("--max-seq-length", type=int, metavar="N", help="tokens per text incl. [CLS]/[SEP] (default: the checkpoint's)")

    compile_ = commands.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines (or Vertex AI) with Kubernetes placement")
    compile_.add_argument("--config", type=Path, help="YAML config file (default: the built-in example)")
    compile_.add_argument("--output", type=Path, required=True, help="pipeline file: .json, or .yaml (the KFP upload form)")
    compile_.add_argument("--target", choices=["kfp", "vertex"], default="kfp", help="open-source Kubeflow Pipelines (default) or Vertex AI")

    submit = commands.add_parser("submit", help="upload the pipeline to Kubeflow Pipelines and start a run")
    _server_arguments(submit)
    submit.add_argument("--wait", action="store_true", help="follow the run to its end; exit 1 unless it succeeds")
    submit.add_argument("--span", type=int, metavar="N", help="ingest span N instead of the newest on disk (e.g. to back-fill a span_window)")
    submit.add_argument("--epochs", type=int, metavar="N", help="train N epochs in this run (default: training.epochs)")

    schedule = commands.add_parser("schedule", help="create or replace the pipeline's recurring run on Kubeflow Pipelines")
    _server_arguments(schedule)
    trigger = schedule.add_mutually_exclusive_group()
    trigger.add_argument("--cron", metavar="EXPR", help="6-field cron: second minute hour day-of-month month day-of-week")
    trigger.add_argument("--every", metavar="DURATION", help="interval such as 30m, 6h, 1d")
    trigger.add_argument("--delete", action="store_true", help="remove the recurring run instead")
    return parser


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML config file (default: the built-in example)")
    parser.add_argument("--host", metavar="URL", help="Kubeflow Pipelines API endpoint (overrides kubeflow.server.host)")
    parser.add_argument("--namespace", metavar="NS", help="namespace of multi-user Kubeflow (overrides kubeflow.server.namespace)")
    parser.add_argument("--experiment", metavar="NAME", help="experiment to file runs in (overrides kubeflow.server.experiment)")


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT_DIR, help="the output directory `retrain run` wrote (default: %(default)s)")
    parser.add_argument("--config", type=Path, help="use this config's metadata path, and only its pipeline's runs")


def _load_config(path: Optional[Path]) -> RetrainConfig:
    """retrain.pipelines.config.load_config, imported on first use: `--help` and `history` without --config never build the config models."""
    from retrain.pipelines.config import load_config

    return load_config(path)


def _fail(message: str, code: int) -> int:
    print(f"retrain: error: {message}", file=sys.stderr)
    return code


def _quiet() -> None:
    """TensorFlow's logs and library warnings off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.simplefilter("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _run(args: argparse.Namespace) -> int:
    if not args.verbose:
        _quiet()
    from retrain.pipelines.csv_staging import stage_as_utf8
    from retrain.pipelines.preflight import check_writable_locations

    config = _load_config(args.config)
    check_writable_locations(config, resolve_run_paths(config, args.output))
    config = stage_as_utf8(config, args.output.resolve())
    from retrain.pipelines.run_summary import format_summary  # TFX loads only after the checks above passed
    from retrain.pipelines.runner import run_locally

    if config.task.type == "text_classification":
        import tensorflow_text  # noqa: F401  (registers the WordPiece ops that converted text Hub modules use)
    progress = install_progress(args.verbose)
    print(f"[retrain] pipeline '{config.pipeline_name}' -> {args.output.resolve()}", flush=True)
    try:
        paths, summary = run_locally(config, args.output, args.runner)
    except (ConfigError, RunLocked, KeyboardInterrupt):  # found before any step ran: main() reports them
        raise
    except Exception as error:  # a step failed: one line naming it, the traceback only when asked
        if args.verbose:
            traceback.print_exc()
        return _fail(failure_line(error, progress.running), EXIT_FAILED)
    print(format_summary(summary), flush=True)
    from retrain.pipelines.report.build import REPORT_FILE, write_report

    try:
        report = write_report(paths.metadata_path, paths.output_dir / REPORT_FILE, pipeline_name=config.pipeline_name)
    except Exception as error:  # the run itself succeeded: a report that cannot be written is a warning
        if args.verbose:
            traceback.print_exc()
        print(f"retrain: warning: report not written: {error_line(error)}", file=sys.stderr)
        return EXIT_OK
    print(f"report: {report}", flush=True)
    return EXIT_OK


def _store(args: argparse.Namespace) -> tuple[Path, Optional[str]]:
    """The metadata store to read and the pipeline to restrict to (only with --config)."""
    if args.config is None:  # the built-in example's config sets no runner.metadata_path
        return default_metadata_path(args.output), None
    config = _load_config(args.config)
    return resolve_run_paths(config, args.output).metadata_path, config.pipeline_name


def _report(args: argparse.Namespace) -> int:
    _quiet()
    from retrain.pipelines.report.runs import RunNotFound, find_run, open_existing_store

    metadata_path, pipeline_name = _store(args)
    try:
        find_run(open_existing_store(metadata_path), args.run, pipeline_name)  # no such run: said before TensorFlow loads
    except RunNotFound as error:
        return _fail(str(error), EXIT_USAGE)
    from retrain.pipelines.report.build import REPORT_FILE, write_report

    report = write_report(metadata_path, args.html or args.output / REPORT_FILE, args.run, pipeline_name)
    print(f"report: {report}")
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    _quiet()
    from retrain.pipelines.history import format_history, load_history
    from retrain.pipelines.report.runs import RunNotFound

    metadata_path, pipeline_name = _store(args)
    try:
        print(format_history(load_history(metadata_path, pipeline_name)))
    except RunNotFound as error:
        return _fail(str(error), EXIT_USAGE)
    return EXIT_OK


def _kubeflow_server(args: argparse.Namespace) -> int:
    _quiet()
    config = _load_config(args.config)
    from retrain.pipelines.kubeflow.client import KfpError

    try:
        if args.command == "submit":
            from retrain.pipelines.kubeflow.submit import submit_command

            run_parameters = {"span": args.span, "epochs": args.epochs}
            return submit_command(config, args.host, args.namespace, args.experiment, args.wait, run_parameters)
        from retrain.pipelines.kubeflow.schedule import schedule_command

        return schedule_command(config, args.host, args.namespace, args.experiment, args.cron, args.every, args.delete)
    except KfpError as error:
        return _fail(str(error), EXIT_FAILED)


def _compile(args: argparse.Namespace) -> int:
    _quiet()
    config = _load_config(args.config)
    from retrain.pipelines.csv_staging import require_utf8_for_kubeflow
    from retrain.pipelines.kubeflow.compile import check_output, compile_pipeline_spec, write_compiled

    require_utf8_for_kubeflow(config)
    check_output(args.output, args.target)
    written = write_compiled(compile_pipeline_spec(config, args.target), args.output)
    print(f"compiled for {args.target}: {written}")
    return EXIT_OK


def _export_hub_text(args: argparse.Namespace) -> int:
    _quiet()
    from retrain.components.backbones.cache import print_progress
    from retrain.components.hub_text.checkpoint import ConversionError
    from retrain.components.hub_text.export import export_hub_text_module

    try:
        module = export_hub_text_module(args.checkpoint_dir, args.output_dir, args.max_seq_length, progress=print_progress)
    except ConversionError as error:
        return _fail(str(error), EXIT_USAGE)
    print(f"TF Hub module: {module}")
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `retrain` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            from retrain.pipelines.config import config_to_yaml

            print(config_to_yaml(_load_config(args.config)), end="")
            return EXIT_OK
        if args.command == "report":
            return _report(args)
        if args.command == "history":
            return _history(args)
        if args.command == "compile":
            return _compile(args)
        if args.command in ("submit", "schedule"):
            return _kubeflow_server(args)
        if args.command == "export-hub-text":
            return _export_hub_text(args)
        return _run(args)
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except RunLocked as error:
        return _fail(str(error), EXIT_BUSY)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILED)
    except Exception as error:  # a pipeline failure: one line, traceback only when asked
        if getattr(args, "verbose", False):
            traceback.print_exc()
        failed = "pipeline failed" if args.command == "run" else f"{args.command} failed"
        return _fail(f"{failed}: {error_line(error)}", EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
