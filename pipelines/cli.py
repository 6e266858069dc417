"""The `retrain` command line."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Optional, Sequence

import pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipelines.config import ConfigError, config_to_yaml, load_config
from pipelines.paths import DEFAULT_OUTPUT_DIR

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    return parser


def _fail(message: str, code: int) -> int:
    print(f"retrain: error: {message}", file=sys.stderr)
    return code


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no message'}"


def _run(args: argparse.Namespace) -> int:
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.simplefilter("ignore")
    from pipelines.progress import install_progress
    from pipelines.run_summary import format_summary
    from pipelines.runner import run_locally

    config = load_config(args.config)
    install_progress(args.verbose)
    print(f"[retrain] pipeline '{config.pipeline_name}' -> {args.output.resolve()}", flush=True)
    paths, summary = run_locally(config, args.output, args.runner)
    print(format_summary(summary), flush=True)
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `retrain` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            print(config_to_yaml(load_config(args.config)), end="")
            return EXIT_OK
        return _run(args)
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILED)
    except Exception as error:  # a pipeline failure: one line, traceback only when asked
        if getattr(args, "verbose", False):
            traceback.print_exc()
        return _fail(f"pipeline failed: {_first_line(error)}", EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
