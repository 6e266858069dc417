#!/usr/bin/env bash
# GPU check for a machine with NVIDIA GPUs and retrain installed (`make install`, or the project's image):
# the built-in image and text examples with mixed precision, both trainers, throughput and GPU utilisation,
# and the backbones' bf16 throughput as a fraction of the device's peak. See benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
exec "$PYTHON" -m benchmarks.gpu_check "$@"
