"""Runs retrain's benchmarks; each prints `NAME ratio=VALUE goal=GOAL` measured side by side in one run.

Usage: python -m benchmarks.run [--quick] [NAME ...]
Ratios, not absolute times: these machines are shared and noisy. Details go to stderr.
Each benchmark lives in a module of this package; register it in BENCHMARKS. A benchmark that measures
several ratios in one run returns them by name.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Union

from benchmarks.beam_scaleout import beam_multiprocess_speedup
from benchmarks.cli_startup import cli_startup_ratio
from benchmarks.image_backbones import efficientnet_transfer_gain, tf_torch_image_parity
from benchmarks.ingest import image_ingest_speedup
from benchmarks.pipeline_runs import cached_rerun_time_ratio
from benchmarks.result import Result
from benchmarks.scaling import pipeline_scaling
from benchmarks.search import search_efficiency
from benchmarks.shared_backbone import shared_backbone_speedup
from benchmarks.torch_parity import cpu_mixed_precision_accuracy_gap, torch_tf_accuracy_gap, torch_tf_throughput_ratio
from benchmarks.trainer_overhead import cpu_mixed_precision_speedup, tf_trainer_vs_plain_keras, torch_trainer_vs_plain_loop
from benchmarks.text import tf_torch_text_finetune_ratio, tf_torch_text_inference_ratio
from benchmarks.training import cached_feature_extraction_speedup, input_pipeline_efficiency, warm_start_time_ratio

BENCHMARKS: dict[str, Callable[[bool], Union[Result, dict[str, Result]]]] = {
    "cached_rerun_time_ratio": cached_rerun_time_ratio,
    "image_ingest_speedup": image_ingest_speedup,
    "beam_multiprocess_speedup": beam_multiprocess_speedup,
    "torch_tf_throughput_ratio": torch_tf_throughput_ratio,
    "torch_tf_accuracy_gap": torch_tf_accuracy_gap,
    "cached_feature_extraction_speedup": cached_feature_extraction_speedup,
    "input_pipeline_efficiency": input_pipeline_efficiency,
    "warm_start_time_ratio": warm_start_time_ratio,
    "tf_torch_text_inference_ratio": tf_torch_text_inference_ratio,
    "tf_torch_text_finetune_ratio": tf_torch_text_finetune_ratio,
    "efficientnet_transfer_gain": efficientnet_transfer_gain,
    "tf_torch_image_parity": tf_torch_image_parity,
    "pipeline_scaling": pipeline_scaling,
    "cli_startup_ratio": cli_startup_ratio,
    "tf_trainer_vs_plain_keras": tf_trainer_vs_plain_keras,
    "torch_trainer_vs_plain_loop": torch_trainer_vs_plain_loop,
    "search_efficiency": search_efficiency,
    "shared_backbone_speedup": shared_backbone_speedup,
    "cpu_mixed_precision_speedup": cpu_mixed_precision_speedup,
    "cpu_mixed_precision_accuracy_gap": cpu_mixed_precision_accuracy_gap,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a fast check")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in args.names or list(BENCHMARKS):
        measured = BENCHMARKS[name](args.quick)
        for label, result in (measured if isinstance(measured, dict) else {name: measured}).items():
            print(f"{label} ratio={result.ratio:.3f} goal={result.goal_text}{'' if result.met else '  (goal not met)'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
