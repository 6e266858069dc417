"""The linter and the formatter (ruff, settings in pyproject.toml) pass over the project's Python code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LINTED = ("pipelines", "components", "benchmarks", "tests", "tools")


def _ruff(*args: str, source: str | None = None, command: str = "check") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", command, "--no-cache", *args], cwd=REPO_ROOT, input=source, capture_output=True, text=True, timeout=120
    )


def test_ruff_finds_nothing() -> None:
    result = _ruff(*LINTED)
    assert result.returncode == 0, f"ruff check {' '.join(LINTED)} reported:\n{result.stdout}{result.stderr}"


def test_the_configured_rules_catch_real_bugs_and_private_access() -> None:
    source = "import json\nimport os\n\n\ndef add(item, items=[]):\n    items.append(json._default_decoder)\n    return undefined_name\n"
    result = _ruff("--output-format=concise", "--stdin-filename", "components/lint_probe.py", "-", source=source)
    assert result.returncode == 1
    assert {"F401", "F821", "B006", "SLF001"} <= {line.split()[1] for line in result.stdout.splitlines() if line.startswith("components/")}


def test_the_code_is_formatted() -> None:
    result = _ruff("--check", *LINTED, command="format")
    assert result.returncode == 0, f"ruff format --check reported (run `ruff format {' '.join(LINTED)}`):\n{result.stdout}{result.stderr}"
