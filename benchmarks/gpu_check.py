"""GPU check: the built-in image and text examples with `mixed_precision: true` on a GPU machine.

Usage: `benchmarks/gpu_check.sh [--workdir DIR] [--epochs N]` (or `python -m benchmarks.gpu_check`).
Runs `retrain run` in `fine_tune` mode with `trainer: both` (the TF trainer and the PyTorch trainer; PyTorch
starts one DDP process per visible GPU, NCCL between them) on each example and prints, per
run and trainer, training examples/s (TF: Keras' ms/step x batch size; PyTorch: its
epoch lines), the mean GPU utilisation while the run trained (nvidia-smi, sampled every
0.5 s), then each named backbone's forward throughput in bf16 as a fraction of the
device's dense bf16 peak (FLOPs counted by PyTorch's FlopCounterMode). Needs a GPU.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import yaml

if TYPE_CHECKING:
    import torch

# Dense bf16 tensor-core peak in FLOP/s, from NVIDIA's data sheets (without sparsity); by name substring, first match.
BF16_PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
)
EXAMPLES = {"image": "examples/digits.yaml", "text": "examples/text.yaml"}
_TF_STEP = re.compile(r"^\d+/\d+ - .* - (\d+)ms/step$")
_TORCH_EPOCH = re.compile(r"^\[retrain\] torch epoch \d+ .* \((\d+) examples/s\)")


@dataclass
class UtilisationSampler:
    """Samples every GPU's utilisation with `nvidia-smi -lms` in the background."""

    samples: list[tuple[float, float]] = field(default_factory=list)

    def __enter__(self) -> "UtilisationSampler":
        self._process = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "500"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.strip().isdigit():
                self.samples.append((time.monotonic(), float(line)))

    def __exit__(self, *_: object) -> None:
        self._process.terminate()
        self._process.wait()

    def mean_between(self, start: float, end: float) -> Optional[float]:
        """Mean utilisation in percent over the samples taken between `start` and `end` (all GPUs together)."""
        window = [value for at, value in self.samples if start <= at <= end]
        return statistics.fmean(window) if window else None


def bf16_peak(device_name: str) -> Optional[float]:
    """The device's dense bf16 peak in FLOP/s (None: not in the table)."""
    return next((peak for key, peak in BF16_PEAK_FLOPS if key in device_name), None)


def training_rates(lines: list[str], batch_size: int) -> tuple[float, float]:
    """Median training examples/s of the TF trainer (Keras' ms/step lines) and the PyTorch trainer (its epoch lines),
    the first epoch left out when there are more (it pays tracing and warm-up); NaN for a trainer that printed none."""
    tf_steps = [int(match.group(1)) for match in map(_TF_STEP.match, lines) if match]
    torch_rates = [int(match.group(1)) for match in map(_TORCH_EPOCH.match, lines) if match]
    tf_rate = batch_size / (statistics.median(tf_steps[1:] or tf_steps) / 1000) if tf_steps else float("nan")
    torch_rate = statistics.median(torch_rates[1:] or torch_rates) if torch_rates else float("nan")
    return tf_rate, torch_rate


def run_example(name: str, workdir: Path, epochs: Optional[int], sampler: UtilisationSampler) -> None:
    """`retrain run` of one example with mixed precision and both trainers; prints its throughput and utilisation."""
    from retrain.pipelines.config import config_from_dict

    raw = yaml.safe_load(Path(EXAMPLES[name]).read_text())
    raw["trainer"] = "both"
    raw.setdefault("training", {}).update(mixed_precision=True, mode="fine_tune")  # the backbone trains: the GPU works
    if epochs is not None:
        raw["training"]["epochs"] = epochs
    batch_size = config_from_dict(raw).training.batch_size
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump(raw))
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "retrain.pipelines.cli", "run", "--config", str(config), "--output", str(workdir / name)],
        capture_output=True,
        text=True,
    )
    end = time.monotonic()
    if run.returncode != 0:
        print(f"gpu_check {name}: retrain run failed (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}")
        return
    tf_rate, torch_rate = training_rates(run.stdout.splitlines(), batch_size)
    utilisation = sampler.mean_between(start, end)
    print(
        f"gpu_check {name}: tf examples/s={tf_rate:.0f} torch examples/s={torch_rate:.0f} "
        f"gpu_util_mean={'n/a' if utilisation is None else f'{utilisation:.0f}%'} wall={end - start:.0f}s",
        flush=True,
    )


def forward_throughput(forward: Callable[[], object], device: "torch.device", repeats: int) -> tuple[float, float]:
    """(FLOPs of one `forward()` call, seconds per call) under bf16 autocast on `device`, after 3 warm-up calls."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        with FlopCounterMode(display=False) as counter:
            forward()
        for _ in range(3):
            forward()
        synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            forward()
        synchronize()
    return counter.get_total_flops(), (time.perf_counter() - start) / repeats


def backbone_throughput(name: str, batch_size: int, repeats: int = 20) -> None:
    """A named backbone's bf16 forward FLOP/s on GPU 0, printed with its fraction of the device's peak."""
    import torch

    from retrain.components.backbones.cache import resolve_backbone
    from retrain.components.backbones.registry import backbone_spec
    from retrain.components.torch_trainer.model import TextEncoder, load_backbone

    spec = backbone_spec(name)
    device = torch.device("cuda:0")
    model = load_backbone(str(resolve_backbone(name).torch_checkpoint), f"{spec.kind}_classification").to(device).eval()
    if isinstance(model, TextEncoder):
        tokens = model.tokenize(["a support ticket about a late delivery and a refund " * 12] * batch_size)
        inputs = (tokens["input_ids"].to(device), tokens["attention_mask"].to(device))
        forward = lambda: model.embed_tokens(*inputs)  # noqa: E731 (a closure over the prepared inputs)
    else:
        height, width = spec.image_size or (224, 224)
        images = torch.rand(batch_size, spec.channels or 3, height, width, device=device)
        forward = lambda: model(images)  # noqa: E731
    flops, seconds = forward_throughput(forward, device, repeats)
    peak = bf16_peak(torch.cuda.get_device_name(device))
    fraction = f"{flops / seconds / peak:.3f}" if peak else "n/a (device not in BF16_PEAK_FLOPS)"
    print(f"gpu_check backbone {name}: batch {batch_size}, {flops / seconds / 1e12:.1f} TFLOP/s bf16, fraction_of_peak={fraction}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where the runs write (default: a temporary directory)")
    parser.add_argument("--epochs", type=int, help="override the examples' epochs (default: as in the example configs)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no GPU visible (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    print(f"gpu_check devices: {len(names)} x {names[0]}", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="retrain-gpu-check-"))
    with UtilisationSampler() as sampler:
        for name in EXAMPLES:
            run_example(name, workdir, args.epochs, sampler)
    backbone_throughput("efficientnet-lite0", 256)
    backbone_throughput("minilm-l6", 256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
