#!/usr/bin/env bash
# Creates .venv (if missing) and installs the exact, locked stack plus retrain itself.
# Idempotent: a stamp keyed on the lock file's hash skips work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=".venv"
STAMP="$VENV/.retrain-installed"
WANT="$(cat requirements.lock setup.py pyproject.toml | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  exit 0
fi
if ! command -v "$PYTHON" >/dev/null; then
  echo "bootstrap: $PYTHON not found; retrain needs CPython 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
echo "bootstrap: installing the locked stack into $VENV (first time: a few minutes)"
# --no-deps: the lock is the complete, already-resolved set, so pip resolves nothing.
# --ignore-requires-python: tfx and ml-pipelines-sdk 1.16.0 declare Python <3.11 but run on
# 3.11; every other pin in the lock was resolved with the Python check on (make lock).
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-deps --ignore-requires-python -r requirements.lock
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-deps --no-build-isolation -e .
echo "$WANT" > "$STAMP"
