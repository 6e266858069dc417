"""`retrain history`, `config`, `--help` and config errors start without TensorFlow, TFX or TFMA; run queries stay per run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.recorded_runs import MIN_ACCURACY, record_runs, recorded_run
from retrain.components.branches import TENSORFLOW
from retrain.components.versioned_pusher.metrics_records import CorruptRecord, load_local_metrics
from retrain.pipelines.config import load_config
from retrain.pipelines.paths import default_metadata_path, resolve_run_paths
from retrain.pipelines.run_summary import last_execution_id, node_of, open_store, summarize_run

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS = 3
NODES_PER_RUN = 9  # benchmarks/recorded_runs.py _NODES
HEAVY = ("tensorflow", "tfx", "apache_beam")  # `tensorflow` also matches tensorflow_model_analysis, tensorflow_metadata, ...
# Runs the CLI in a fresh interpreter and prints its exit status and the heavy modules it imported, as JSON.
_PROBE = """
import json, sys
from retrain.pipelines.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as done:
    status = done.code
heavy = sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0].startswith(%r)})
print(json.dumps({"status": status, "heavy": heavy}), file=sys.stderr)
""" % (HEAVY,)


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output directory whose store holds RUNS finished runs."""
    directory = tmp_path_factory.mktemp("history") / "out"
    record_runs(directory, RUNS)
    return directory


def _probe(*args: str, cwd: Path) -> tuple[int, list[str], str]:
    """(exit status, heavy top-level modules imported, stdout) of `retrain ARGS` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    found = json.loads(completed.stderr.strip().splitlines()[-1])
    return found["status"], found["heavy"], completed.stdout


def test_history_lists_every_run_without_tensorflow(output: Path) -> None:
    status, heavy, stdout = _probe("history", "--output", str(output), cwd=output.parent)
    assert (status, heavy) == (0, [])
    rows = [line.split() for line in stdout.strip().splitlines()[1:]]
    expected = [recorded_run(number) for number in range(1, RUNS + 1)]
    # run, date, time, spans, trainer, accuracy, blessed, pushed, outcome
    assert [(row[3], row[4], row[5], row[6], row[7], row[8]) for row in rows] == [
        (str(run.span), "tensorflow", f"{run.accuracy:.4f}", "yes", str(run.pushed_version), "ok") for run in expected
    ]


def test_history_and_summaries_read_a_pipeline_whose_name_has_dots(tmp_path: Path) -> None:
    store = record_runs(tmp_path / "dotted", 2, pipeline="retrain.v2")  # node contexts `retrain.v2.Trainer`, ...
    status, _, stdout = _probe("history", "--output", str(tmp_path / "dotted"), cwd=tmp_path)
    rows = [line.split() for line in stdout.strip().splitlines()[1:]]
    assert status == 0 and [(row[4], row[7]) for row in rows] == [(TENSORFLOW, "1"), (TENSORFLOW, "2")]
    metadata = open_store(store)
    nodes = {node_of(metadata, execution.id) for execution in metadata.get_executions()}
    assert len(nodes) == NODES_PER_RUN and {"Trainer", "Evaluator"} <= nodes and not any(node is None or "." in node for node in nodes)


@pytest.mark.parametrize(
    "args, status",
    [
        (["--help"], 0),
        (["history", "--help"], 0),
        (["config"], 0),
        (["config", "--config", "typo.yaml"], 2),
        (["history", "--config", "typo.yaml"], 2),
        (["report", "--config", "typo.yaml"], 2),
        (["compile", "--config", "typo.yaml", "--output", "pipeline.json"], 2),
        (["report", "--output", "missing"], 2),
    ],
)
def test_help_config_and_early_errors_start_without_tensorflow(tmp_path: Path, args: list[str], status: int) -> None:
    (tmp_path / "typo.yaml").write_text("trainning:\n  epochs: 3\n")  # an unknown key: a ConfigError
    assert _probe(*args, cwd=tmp_path)[:2] == (status, [])


def test_history_without_config_reads_the_built_in_configs_store(tmp_path: Path) -> None:
    """`retrain history` without --config skips loading the config: the store must be where the built-in config puts it."""
    assert default_metadata_path(tmp_path) == resolve_run_paths(load_config(None), tmp_path).metadata_path


def test_report_of_an_unknown_run_fails_before_loading_tensorflow(output: Path) -> None:
    assert _probe("report", "--output", str(output), "--run", "no-such-run", cwd=output.parent)[:2] == (2, [])


def test_run_summary_reads_only_the_executions_after_the_mark(output: Path) -> None:
    metadata_path = output / "metadata.sqlite"
    assert last_execution_id(metadata_path) == RUNS * NODES_PER_RUN
    summary = summarize_run(metadata_path, (RUNS - 1) * NODES_PER_RUN)
    last, verdict = recorded_run(RUNS), summary.verdicts[TENSORFLOW]
    assert (verdict.accuracy, verdict.min_accuracy, verdict.push_version, summary.classes) == (
        last.accuracy,
        MIN_ACCURACY,
        str(last.pushed_version),
        ["cat", "dog"],
    )
    assert summarize_run(metadata_path, RUNS * NODES_PER_RUN).verdicts == {}  # no evaluation after the mark: no accuracy
    assert last_execution_id(output / "no-store.sqlite") == 0


def test_local_metrics_match_tfma(output: Path) -> None:
    import tensorflow_model_analysis as tfma

    evaluation = next((output / "pipeline_root" / "Evaluator" / "evaluation").iterdir())
    assert list(load_local_metrics(str(evaluation))) == list(tfma.load_metrics(str(evaluation)))


def test_a_corrupted_metrics_file_is_refused(tmp_path: Path, output: Path) -> None:
    source = next((output / "pipeline_root" / "Evaluator" / "evaluation").iterdir()) / "metrics-00000-of-00001.tfrecord"
    data = bytearray(source.read_bytes())
    data[-5] ^= 0xFF  # the last byte of the record's data
    (tmp_path / source.name).write_bytes(bytes(data))
    with pytest.raises(CorruptRecord, match="corrupted record data"):
        list(load_local_metrics(str(tmp_path)))
    (tmp_path / source.name).write_bytes(source.read_bytes()[:-2])
    with pytest.raises(CorruptRecord, match="truncated record"):
        list(load_local_metrics(str(tmp_path)))


def test_a_run_imports_tfx_components_without_tfx_v1_and_its_cloud_extensions() -> None:
    """`tfx.v1` imports every extension (google.cloud.aiplatform among them): ~4.5 s of every run's start-up."""
    probe = (
        "import sys\n"
        "import retrain.pipelines.runner, retrain.pipelines.pipeline, retrain.components.hub_trainer.trainer_module\n"
        "import retrain.components.hub_tuner.tuner_module, retrain.components.evaluator_progress.component\n"
        "print(sorted(name for name in sys.modules if name == 'tfx.v1' or name.startswith(('tfx.v1.', 'google.cloud.aiplatform'))))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
