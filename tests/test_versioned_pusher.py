"""Versioned pushes: integer versions, no duplicate of the latest model, nothing half-written."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.versioned_pusher import versioning


def _model(root: Path, content: str) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "variables" / "variables.index").write_text(content)
    (root / "saved_model.pb").write_text("graph-" + content)
    return root


def test_first_push_is_version_1_with_a_manifest(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", "a")
    result = versioning.push_model(str(model), str(tmp_path / "serving"))
    assert (result.pushed, result.version) == (True, 1)
    assert (tmp_path / "serving" / "1" / "saved_model.pb").read_text() == "graph-a"
    manifest = versioning.read_manifest(str(tmp_path / "serving" / "1"))
    assert manifest["fingerprint"] == versioning.model_fingerprint(str(model))


def test_identical_model_is_not_pushed_twice(tmp_path: Path) -> None:
    serving = str(tmp_path / "serving")
    versioning.push_model(str(_model(tmp_path / "m1", "a")), serving)
    again = versioning.push_model(str(_model(tmp_path / "m2", "a")), serving)
    assert not again.pushed
    assert again.reason == "identical to the deployed version 1"
    assert versioning.pushed_versions(serving) == [1]


def test_changed_model_becomes_the_next_version(tmp_path: Path) -> None:
    serving = str(tmp_path / "serving")
    versioning.push_model(str(_model(tmp_path / "m1", "a")), serving)
    result = versioning.push_model(str(_model(tmp_path / "m2", "b")), serving)
    assert (result.pushed, result.version) == (True, 2)
    assert versioning.pushed_versions(serving) == [1, 2]


def test_failed_copy_leaves_no_version_and_no_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serving = tmp_path / "serving"
    real_copy = versioning._copy_saved_model

    def copy_then_crash(model_dir: str, target: str) -> None:
        real_copy(model_dir, target)
        raise OSError("disk full")

    monkeypatch.setattr(versioning, "_copy_saved_model", copy_then_crash)
    with pytest.raises(OSError, match="disk full"):
        versioning.push_model(str(_model(tmp_path / "m", "a")), str(serving))
    assert list(serving.iterdir()) == []


def test_fingerprint_depends_on_content_and_paths(tmp_path: Path) -> None:
    a = versioning.model_fingerprint(str(_model(tmp_path / "a", "x")))
    b = versioning.model_fingerprint(str(_model(tmp_path / "b", "x")))
    c = versioning.model_fingerprint(str(_model(tmp_path / "c", "y")))
    assert a == b != c
