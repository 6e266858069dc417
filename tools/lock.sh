#!/usr/bin/env bash
# Re-resolves the stack from constraints.txt into requirements.lock, in a scratch venv.
# Two stages, because tfx/ml-pipelines-sdk 1.16.0 declare Requires-Python <3.11:
#   1. install those two with --no-deps --ignore-requires-python;
#   2. install their declared dependencies plus ours with the Python check ON, so no
#      package is picked that needs a newer Python.
# tensorflow-hub is then forced to 0.16.1 (tfx pins <0.16, but 0.15 imports the
# Estimator API that TF 2.16 removed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
"$PYTHON" -m venv "$SCRATCH/venv"
PIP="$SCRATCH/venv/bin/python -m pip"
$PIP install --quiet "setuptools<80" wheel packaging
$PIP install --quiet --no-deps --ignore-requires-python tfx==1.16.0 ml-pipelines-sdk==1.16.0
DEPS="$("$SCRATCH/venv/bin/python" tools/dist_requirements.py tfx ml-pipelines-sdk --exclude tensorflow-hub)"
# shellcheck disable=SC2086
$PIP install --quiet -c constraints.txt $DEPS -r requirements.in
$PIP install --quiet --no-deps tensorflow-hub==0.16.1
$PIP freeze --all --exclude-editable | grep -v -E '^(pip|wheel)==' > requirements.lock
echo "lock: wrote requirements.lock ($(wc -l < requirements.lock) packages)"
