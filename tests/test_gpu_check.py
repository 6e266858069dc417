"""The GPU check script's parts that run without a GPU: its log parsing, peak table and refusal."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from benchmarks.gpu_check import bf16_peak, training_rates


def test_training_rates_come_from_the_trainers_own_lines() -> None:
    lines = [
        "Epoch 1/3",
        "6/6 - 3s - loss: 0.9 - accuracy: 0.5 - 900ms/epoch - 500ms/step",
        "6/6 - 1s - loss: 0.5 - accuracy: 0.8 - 600ms/epoch - 100ms/step",
        "6/6 - 1s - loss: 0.4 - accuracy: 0.9 - 600ms/epoch - 100ms/step",
        "[retrain] torch epoch 1 (fine_tune) in 2.0s (50 examples/s): loss 0.5082, accuracy 0.7396",
        "[retrain] torch epoch 2 (fine_tune) in 0.5s (200 examples/s): loss 0.0704, accuracy 0.9688",
        "[retrain] torch epoch 3 (fine_tune) in 0.5s (220 examples/s): loss 0.0232, accuracy 0.9896",
    ]
    assert training_rates(lines, 32) == (320.0, 210.0)
    tf_rate, torch_rate = training_rates(["Epoch 1/1"], 32)
    assert math.isnan(tf_rate) and math.isnan(torch_rate)


@pytest.mark.parametrize("name, peak", [("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA A10G", 70e12), ("Tesla T4", None)])
def test_peaks_match_by_device_name(name: str, peak: float | None) -> None:
    assert bf16_peak(name) == peak


def test_without_a_gpu_it_refuses_in_one_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["gpu_check: no GPU visible (torch.cuda.is_available() is False)"]


def test_forward_throughput_counts_the_models_flops() -> None:
    import torch

    from benchmarks.gpu_check import forward_throughput

    model, inputs = torch.nn.Linear(64, 32), torch.rand(8, 64)
    flops, seconds = forward_throughput(lambda: model(inputs), torch.device("cpu"), repeats=2)
    assert flops == 2 * 8 * 64 * 32 and seconds > 0
