"""One importable namespace, `retrain`, whose halves are the folders pipelines/ and components/; the README's layout names every package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from retrain.components.branches import PYTORCH, TENSORFLOW
from retrain.pipelines.report.runs import TRAINER_FRAMEWORKS

REPO_ROOT = Path(__file__).resolve().parent.parent
HALVES = ("pipelines", "components")
OLD_IMPORT = re.compile(r"^\s*(from|import) (pipelines|components)\b", re.M)


def test_the_installed_package_exposes_only_the_retrain_namespace(tmp_path: Path) -> None:
    probe = "import importlib.util as u; print([u.find_spec(n) is not None for n in ('pipelines', 'components', 'retrain.pipelines.cli', 'retrain.components.branches')])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[False, False, True, True]"


def test_no_project_code_imports_the_old_top_level_names() -> None:
    folders = (*HALVES, "benchmarks", "tests", "tools")
    found = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(0).strip()}"
        for folder in folders
        for path in (REPO_ROOT / folder).rglob("*.py")
        for match in OLD_IMPORT.finditer(path.read_text())
    ]
    assert found == []


def test_runs_recorded_before_the_namespace_keep_their_trainers_framework() -> None:
    assert TRAINER_FRAMEWORKS["components.torch_trainer.component.TorchTrainer"] == PYTORCH  # TorchTrainer's type before the move
    assert TRAINER_FRAMEWORKS["retrain.components.torch_trainer.component.TorchTrainer"] == PYTORCH
    assert TRAINER_FRAMEWORKS["tfx.components.trainer.component.Trainer"] == TENSORFLOW


def test_the_readme_layout_names_every_package() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    packages = sorted(
        str(init.parent.relative_to(REPO_ROOT / half))
        for half in HALVES
        for init in (REPO_ROOT / half).rglob("__init__.py")
        if init.parent != REPO_ROOT / half
    )
    missing = [package for package in packages if f"{package.rsplit('/', 1)[-1]}/" not in layout]
    assert packages and missing == []
