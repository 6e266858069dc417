"""Progress while users wait: lines with rate and ETA (a bar on a terminal), component heartbeats, quiet third-party bars."""

from __future__ import annotations

import os
import io
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.training_core import progress
from retrain.components.training_core.progress import ProgressLine
from retrain.pipelines.progress import QUIET_CHILD_WARNINGS_ENV, QUIET_HUGGING_FACE_ENV, ComponentProgressHandler


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_loop_prints_done_rate_and_eta_every_interval_and_a_short_one_nothing() -> None:
    clock, stream = _Clock(), io.StringIO()
    line = ProgressLine("epoch 3/10", 480, interval=10.0, stream=stream, clock=clock)
    for done in range(1, 481):
        clock.now += 0.0625
        line.update(done)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "[retrain] epoch 3/10: 160/480 batches, 16 batches/s, ETA 20s",
        "[retrain] epoch 3/10: 320/480 batches, 16 batches/s, ETA 10s",
        "[retrain] epoch 3/10: 480/480 batches, 16 batches/s, ETA 0s",
    ]
    quiet = io.StringIO()
    quick = ProgressLine("embedding", None, "examples", interval=10.0, stream=quiet, clock=_Clock())
    quick.update(10)
    assert quiet.getvalue() == ""
    assert quick.describe(10) == "10 examples, 1e+10 examples/s"


def test_on_a_terminal_one_bar_is_redrawn_in_place() -> None:
    clock, terminal = _Clock(), _Terminal()
    line = ProgressLine("embedding train examples", 100, "examples", interval=1.0, stream=terminal, clock=clock)
    for done in range(1, 101):
        clock.now += 0.1
        line.update(done)
    line.close()
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") > 5
    assert "[" + "#" * 24 + "] 100/100 examples" in text


def test_a_component_running_long_gets_a_still_running_line() -> None:
    handler = ComponentProgressHandler(stream=io.StringIO(), heartbeat_seconds=30.0)
    handler._started["Evaluator"] = 0.0  # noqa: SLF001 (the start time, set directly to test the clock)
    assert handler.heartbeat(29.0) == []
    assert handler.heartbeat(31.0) == ["[retrain] Evaluator still running (0m31s)"]
    assert handler.heartbeat(45.0) == []
    assert handler.heartbeat(95.0) == ["[retrain] Evaluator still running (1m35s)"]
    handler.close()


def test_hugging_face_bars_and_advisory_warnings_are_off_without_verbose() -> None:
    script = (
        "from retrain.pipelines.progress import install_progress; install_progress(False)\n"
        "import logging, transformers\n"
        "from transformers.utils import logging as hf\n"
        "print(hf.is_progress_bar_enabled(), hf.get_verbosity() == logging.ERROR)\n"
    )
    # Not this process's environment as it is: an in-process `install_progress(False)` by an earlier test set these.
    env = {key: value for key, value in os.environ.items() if key not in QUIET_HUGGING_FACE_ENV}
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.stdout.split() == ["False", "True"], quiet.stderr[-2000:]
    loud = subprocess.run(
        [sys.executable, "-c", script.replace("install_progress(False)", "install_progress(True)")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert loud.stdout.split() == ["True", "False"], loud.stderr[-2000:]


def test_processes_started_later_print_no_warnings_without_verbose() -> None:
    child = "import warnings; warnings.warn('from a Beam worker', FutureWarning)"
    script = (
        "import subprocess, sys\n"
        "from retrain.pipelines.progress import install_progress; install_progress(VERBOSE)\n"
        f"subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in QUIET_CHILD_WARNINGS_ENV}
    quiet = subprocess.run([sys.executable, "-c", script.replace("VERBOSE", "False")], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and "from a Beam worker" not in quiet.stderr, quiet.stderr[-2000:]
    loud = subprocess.run([sys.executable, "-c", script.replace("VERBOSE", "True")], capture_output=True, text=True, timeout=300, env=env)
    assert "FutureWarning: from a Beam worker" in loud.stderr, loud.stderr[-2000:]


def test_keras_epochs_show_batch_progress(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import tensorflow as tf

    from retrain.components.hub_trainer.keras_progress import EpochProgress

    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((8, 3)), np.zeros((8, 2)), batch_size=2, epochs=2, verbose=0, callbacks=[EpochProgress()])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[retrain] epoch")]
    assert lines[0].startswith("[retrain] epoch 1/2: 1/4 batches, ") and "ETA" in lines[0]
    assert lines[-1].startswith("[retrain] epoch 2/2: 4/4 batches, ")
    unsized = tf.data.Dataset.from_tensor_slices((np.zeros((8, 3)), np.zeros((8, 2)))).filter(lambda x, y: True).batch(2)
    model.fit(unsized, epochs=2, verbose=0, callbacks=[EpochProgress()])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[retrain] epoch")]
    assert lines[0].startswith("[retrain] epoch 1/2: 1 batches, ")
    assert lines[-1].startswith("[retrain] epoch 2/2: 4/4 batches, ") and "ETA 0s" in lines[-1]


def test_torch_epochs_show_batch_progress_and_their_timing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from retrain.components.digits_example.torch_backbone import DigitsCNN
    from retrain.components.torch_trainer.model import Classifier
    from retrain.components.torch_trainer.training import train_classifier
    from retrain.components.torch_trainer.worker import epoch_line
    from settings_data import plan as plan_of

    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    torch.manual_seed(0)
    model = Classifier(DigitsCNN(), 128, 2)
    data = (torch.rand(32, 8, 8, 1), torch.arange(32) % 2)
    plan = replace(plan_of(mode="fine_tune", epochs=1, batch_size=8), divergence_guard=False)
    history = train_classifier(model, data, plan)
    out = capsys.readouterr().out
    assert "[retrain] torch epoch 1 (fine_tune): 4/4 batches, " in out
    assert history[0].seconds > 0 and history[0].examples == 32
    assert epoch_line(replace(history[0], seconds=0.5)).startswith("[retrain] torch epoch 1 (fine_tune) in 0.5s (64 examples/s): loss ")


def test_a_step_that_cannot_be_counted_says_it_is_still_running() -> None:
    import time

    from retrain.components.training_core.progress import step_progress

    stream = io.StringIO()
    with step_progress("export-hub-text: saving", interval=0.2, stream=stream):
        time.sleep(0.5)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[retrain] export-hub-text: saving ..."
    assert lines[1] == "[retrain] export-hub-text: saving: still running (0s)" and len(lines) >= 3
    assert lines[-1].startswith("[retrain] export-hub-text: saving: done in 0.")


def test_torch_evaluator_inference_shows_examples_rate_and_eta(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from retrain.components.torch_evaluator.predictions import predict_probabilities
    from retrain.components.torch_trainer.export import TORCHSCRIPT_FILE

    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    torch.jit.save(torch.jit.script(model), str(tmp_path / TORCHSCRIPT_FILE))
    inputs = torch.rand(10, 2, 2, 1)
    probabilities = predict_probabilities(str(tmp_path), inputs, batch_size=4, what="TorchEvaluator: candidate")
    np.testing.assert_allclose(probabilities, model(inputs).detach().numpy(), atol=1e-6)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[retrain] TorchEvaluator")]
    assert [line.split(",")[0] for line in lines] == [f"[retrain] TorchEvaluator: candidate: {done}/10 examples" for done in (4, 8, 10)]
    assert lines[-1].endswith("ETA 0s")


@pytest.mark.parametrize(
    "args, one",
    [
        ([], True),
        (["--direct_running_mode=in_memory", "--direct_num_workers=1"], True),
        (["--direct_running_mode=multi_processing", "--direct_num_workers=1"], True),
        (["--direct_running_mode=multi_processing", "--direct_num_workers=2"], False),
        (["--runner=DataflowRunner"], False),
    ],
)
def test_the_evaluator_gives_an_eta_only_when_one_worker_sees_every_example(args: list[str], one: bool) -> None:
    from retrain.components.evaluator_progress.executor import one_local_worker

    assert one_local_worker(args) is one
