"""pipeline_scaling: how a whole `retrain run` grows with data, stage by stage, and what its overhead costs.

One generated image dataset (photo-like 240x180 JPEG/PNG digits, 10 classes, the `digits-cnn`
backbone) and one generated text dataset (short support messages, 5 intents, `minilm-l6`), each
at three sizes spanning 100x, in `feature_extraction`. Each size is one fresh `retrain run`
(stage times from its `[retrain] NODE done in Ns` lines); the largest size is also done by
`benchmarks/plain_pipeline.py`, a plain single-process script with the same backbone, head,
epochs and batch size. Ratios per dataset:
- growth: the slowest-growing-worst stage's time at the largest size / at the middle size, i.e.
  per 10x data (goal <= 11: linear or better); stages under 2 s at the largest size are left out
  (fixed costs, noise);
- throughput: plain script seconds / pipeline seconds at the largest size (goal >= 0.7: the
  pipeline's overhead amortises).
Before every timed run the data's files are read once, untimed, so both sides start with them
in the page cache: this machine's memory reclaim evicts idle files, and a cold read of 20,000
images (10 s serially) had slowed the plain script, which reads one file at a time, by up to 3x.
"""

from __future__ import annotations

import csv
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.ingest import write_photo_like_images
from benchmarks.result import Result

SIZES = {False: (200, 2_000, 20_000), True: (30, 300, 3_000)}
EPOCHS, BATCH_SIZE = 10, 64
IMAGE_FILE_SIZE = (240, 180)
_DONE = re.compile(r"^\[retrain\] (\S+) done in ([\d.]+)s$")
_MIN_STAGE_SECONDS = 2.0
_INTENTS = {
    "refund": ["I want my money back for the {item}", "please refund the {item} I returned", "how do I get a refund on my {item}"],
    "delivery": ["where is my {item}", "the {item} has not arrived yet", "tracking for my {item} shows no update"],
    "account": ["I cannot log in to my account", "reset my password please, {name}", "my account is locked since {day}"],
    "billing": ["I was charged twice for the {item}", "the invoice for {day} is wrong", "why is my bill higher this month"],
    "product": ["does the {item} come in blue", "is the {item} compatible with my phone", "what size is the {item}"],
}
_FILLERS = {
    "item": ["jacket", "laptop", "coffee maker", "headphones", "desk lamp", "backpack", "blender", "monitor", "kettle", "camera"],
    "name": ["Anna", "Bo", "Chen", "Dara", "Eli", "Femi"],
    "day": ["Monday", "Tuesday", "the 3rd", "last week", "yesterday", "March"],
}


def write_text_csv(path: Path, count: int, seed: int = 0) -> None:
    """`count` short support messages as a `text,label` CSV, the intents in turn."""
    rng = random.Random(seed)
    intents = sorted(_INTENTS)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for index in range(count):
            label = intents[index % len(intents)]
            template = rng.choice(_INTENTS[label])
            text = template.format(**{key: rng.choice(values) for key, values in _FILLERS.items()})
            writer.writerow([f"{text} (order {rng.randrange(10**6)})", label])


def stage_seconds(stdout: str) -> dict[str, float]:
    """Seconds per pipeline node from a run's `[retrain] NODE done in Ns` lines (cached nodes are not timed)."""
    return {match.group(1): float(match.group(2)) for match in map(_DONE.match, stdout.splitlines()) if match}


def worst_growth(small: dict[str, float], large: dict[str, float]) -> tuple[str, float]:
    """The stage whose time grew most from `small` to `large` among those taking at least 2 s at `large`."""
    grown = {stage: large[stage] / max(small.get(stage, 0.0), 1e-3) for stage in large if large[stage] >= _MIN_STAGE_SECONDS}
    stage = max(grown, key=grown.__getitem__)
    return stage, grown[stage]


def _config(kind: str, data: Path) -> dict[str, Any]:
    training = {"mode": "feature_extraction", "epochs": EPOCHS, "batch_size": BATCH_SIZE}
    if kind == "images":
        return {
            "pipeline_name": "scaling-images",
            "data": {"path": str(data)},
            "backbone": {"name": "digits-cnn"},
            "training": training,
            "evaluation": {"min_accuracy": 0.0},
        }
    return {
        "pipeline_name": "scaling-text",
        "task": {"type": "text_classification"},
        "data": {"path": str(data)},
        "backbone": {"name": "minilm-l6"},
        "training": training,
        "evaluation": {"min_accuracy": 0.0},
    }


def _run_pipeline(config: dict[str, Any], workdir: Path) -> tuple[float, dict[str, float]]:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "retrain.pipelines.cli", "run", "--config", "config.yaml", "--output", "out"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"retrain run failed: {run.stderr.strip().splitlines()[-1:]}")
    return seconds, stage_seconds(run.stdout)


def _run_plain(kind: str, data: Path, workdir: Path) -> tuple[float, str]:
    from retrain.pipelines.config import config_from_dict
    from retrain.components.backbones.cache import resolve_backbone
    from retrain.components.backbones.registry import backbone_spec

    config = config_from_dict(_config(kind, data))
    name = str(config.backbone.name)
    spec = backbone_spec(name)
    command = [
        sys.executable,
        "-m",
        "benchmarks.plain_pipeline",
        kind,
        str(data),
        str(workdir / "plain_model"),
        "--backbone",
        str(resolve_backbone(name).handle),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(BATCH_SIZE),
        "--learning-rate",
        str(config.effective_rates().learning_rate),
    ]
    if spec.image_size:
        command += ["--image-size", *map(str, spec.image_size), "--channels", str(spec.channels)]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"plain pipeline failed: {run.stderr.strip().splitlines()[-1:]}")
    return seconds, run.stdout.strip()


def _dataset(kind: str, root: Path, count: int) -> Path:
    if kind == "images":
        write_photo_like_images(root, count, IMAGE_FILE_SIZE)
        return root
    root.mkdir(parents=True)
    write_text_csv(root / "messages.csv", count)
    return root / "messages.csv"


def _warm_page_cache(data: Path) -> None:
    """Reads every file of `data` (a file or a directory tree) once, so a timed run finds them cached."""
    for path in [data] if data.is_file() else sorted(data.rglob("*")):
        if path.is_file():
            path.read_bytes()


def _measure(kind: str, sizes: tuple[int, ...], work: Path) -> dict[str, Result]:
    """Pipeline runs at every size and the plain script at the largest, side by side; the two ratios."""
    totals, stages = [], []
    for count in sizes:
        data = _dataset(kind, work / f"{kind}-{count}" / "data", count)
        _warm_page_cache(data)
        seconds, per_stage = _run_pipeline(_config(kind, data), work / f"{kind}-{count}")
        totals.append(seconds)
        stages.append(per_stage)
    _warm_page_cache(data)
    plain_seconds, plain_line = _run_plain(kind, data, work / f"{kind}-{sizes[-1]}")
    names = sorted(set().union(*stages), key=lambda stage: -stages[-1].get(stage, 0.0))
    print(f"  pipeline_scaling {kind}: seconds per stage at {' / '.join(f'{count:,}' for count in sizes)} examples", file=sys.stderr)
    for stage in names:
        print(f"    {stage:<28} " + " / ".join(f"{per_stage.get(stage, 0.0):7.1f}" for per_stage in stages), file=sys.stderr)
    print(f"    {'whole run (wall)':<28} " + " / ".join(f"{seconds:7.1f}" for seconds in totals), file=sys.stderr)
    print(f"    plain script at {sizes[-1]:,}: {plain_seconds:.1f}s ({plain_line})", file=sys.stderr)
    stage, growth = worst_growth(stages[-2], stages[-1])
    print(f"  pipeline_scaling {kind}: worst growth per 10x: {stage} x{growth:.2f}; whole run x{totals[-1] / totals[-2]:.2f}", file=sys.stderr)
    return {
        f"pipeline_scaling_{kind}_growth": Result(ratio=growth, goal=11.0, lower_is_better=True),
        f"pipeline_scaling_{kind}_throughput": Result(ratio=plain_seconds / totals[-1], goal=0.7, lower_is_better=False),
    }


def pipeline_scaling(quick: bool) -> dict[str, Result]:
    """Per-stage growth per 10x data and throughput against a plain script, for images and text (see the module doc)."""
    sizes = SIZES[quick]
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        return {**_measure("images", sizes, work), **_measure("text", sizes, work)}
