"""Versioned pushes: integer versions, never a model pushed before, no cumulative drift, nothing half-written."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from retrain.components.versioned_pusher import versioning
from retrain.components.versioned_pusher.digest import model_content_digest


def _model(root: Path, content: str, graph: str = "", size: int = 0) -> Path:
    """A SavedModel-shaped directory: `content` in its variables (plus `size` seeded bytes), `graph` in saved_model.pb."""
    (root / "variables").mkdir(parents=True)
    (root / "variables" / "variables.index").write_text(content)
    payload = np.random.default_rng(sum(map(ord, content))).bytes(size)
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(payload)
    (root / "saved_model.pb").write_text(graph or "graph-" + content)
    return root


def test_first_push_is_version_1_with_its_record(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", "a")
    result = versioning.push_model(str(model), str(tmp_path / "serving"), accuracy=0.9)
    assert (result.pushed, result.version) == (True, 1)
    assert (tmp_path / "serving" / "1" / "saved_model.pb").read_text() == "graph-a"
    manifest = versioning.read_manifest(str(tmp_path / "serving" / "1"))
    assert (manifest["digest"], manifest["accuracy"]) == (model_content_digest(str(model)), 0.9)


def test_identical_model_is_not_pushed_twice(tmp_path: Path) -> None:
    serving = str(tmp_path / "serving")
    versioning.push_model(str(_model(tmp_path / "m1", "a")), serving)
    again = versioning.push_model(str(_model(tmp_path / "m2", "a")), serving)
    assert not again.pushed
    assert again.reason == "identical to the deployed version 1"
    assert versioning.pushed_versions(serving) == [1]


def test_identical_training_with_another_graph_file_is_a_duplicate(tmp_path: Path) -> None:
    """saved_model.pb differs between identical trainings; the weights and assets decide."""
    serving = str(tmp_path / "serving")
    versioning.push_model(str(_model(tmp_path / "m1", "a", graph="export-1")), serving)
    again = versioning.push_model(str(_model(tmp_path / "m2", "a", graph="export-2")), serving)
    assert (again.pushed, again.version) == (False, 1)


def test_model_identical_to_an_older_version_is_not_pushed(tmp_path: Path) -> None:
    serving = str(tmp_path / "serving")
    versioning.push_model(str(_model(tmp_path / "m1", "a")), serving)
    versioning.push_model(str(_model(tmp_path / "m2", "b")), serving)
    again = versioning.push_model(str(_model(tmp_path / "m3", "a")), serving)
    assert not again.pushed
    assert again.reason == "identical to version 1, pushed before (deployed: version 2)"
    assert versioning.pushed_versions(serving) == [1, 2]


def test_versions_pushed_without_a_record_are_compared_by_content(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    _model(serving / "1", "a")  # pushed by another tool: no retrain_push.json
    result = versioning.push_model(str(_model(tmp_path / "m", "a", graph="other")), str(serving))
    assert (result.pushed, result.version) == (False, 1)


def test_changed_model_becomes_the_next_version(tmp_path: Path) -> None:
    serving = str(tmp_path / "serving")
    versioning.push_model(str(_model(tmp_path / "m1", "a")), serving)
    result = versioning.push_model(str(_model(tmp_path / "m2", "b")), serving)
    assert (result.pushed, result.version) == (True, 2)
    assert versioning.pushed_versions(serving) == [1, 2]


def test_small_drops_cannot_add_up(tmp_path: Path) -> None:
    """Each run may lose max_accuracy_drop against its baseline, but never more than that below the best pushed."""
    serving = str(tmp_path / "serving")
    first = versioning.push_model(str(_model(tmp_path / "m1", "a")), serving, accuracy=0.90, max_accuracy_drop=0.02)
    second = versioning.push_model(str(_model(tmp_path / "m2", "b")), serving, accuracy=0.885, max_accuracy_drop=0.02)
    third = versioning.push_model(str(_model(tmp_path / "m3", "c")), serving, accuracy=0.87, max_accuracy_drop=0.02)
    assert (first.pushed, second.pushed, third.pushed) == (True, True, False)
    assert third.reason == (
        "accuracy 0.8700 is 0.0300 below version 1 (0.9000), the best pushed; evaluation.max_accuracy_drop allows 0.0200 in total"
    )
    recovered = versioning.push_model(str(_model(tmp_path / "m4", "d")), serving, accuracy=0.881, max_accuracy_drop=0.02)
    assert (recovered.pushed, recovered.version) == (True, 3)


def test_each_task_may_not_drift_below_its_best_pushed(tmp_path: Path) -> None:
    """With several tasks every task has its own drift allowance against the best pushed accuracy of that task."""
    serving = str(tmp_path / "serving")
    drops = {"digit": 0.02, "size": 0.05}

    def push(name: str, digit: float, size: float) -> versioning.PushResult:
        return versioning.push_model(
            str(_model(tmp_path / name, name)),
            serving,
            accuracy=digit,
            max_accuracy_drop=drops["digit"],
            task_accuracies={"digit": digit, "size": size},
            task_max_accuracy_drops=drops,
        )

    assert push("m1", 0.90, 0.95).pushed
    assert versioning.read_manifest(str(Path(serving) / "1"))["task_accuracies"] == {"digit": 0.90, "size": 0.95}
    assert push("m2", 0.91, 0.92).pushed  # size lost 0.03, within its 0.05
    refused = push("m3", 0.91, 0.89)  # size 0.06 below version 1's 0.95: the main task alone would have passed
    assert not refused.pushed
    assert refused.reason == (
        "accuracy of task size 0.8900 is 0.0600 below version 1 (0.9500), the best pushed; task size's max_accuracy_drop allows 0.0500 in total"
    )


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


def test_staging_left_by_a_killed_push_is_removed_at_the_next_push(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    killed = serving / f"{versioning.STAGING_PREFIX}{int(time.time())}-dead"
    _model(killed, "half")
    result = versioning.push_model(str(_model(tmp_path / "m", "a")), str(serving))
    assert result.pushed
    assert not any(path.name.startswith(versioning.STAGING_PREFIX) for path in serving.iterdir())


def test_without_a_lock_only_old_staging_is_stale(tmp_path: Path) -> None:
    """Remote destinations have no lock: a fresh staging directory may be a live pusher's."""
    old = tmp_path / f"{versioning.STAGING_PREFIX}{int(time.time()) - 7200}-old"
    fresh = tmp_path / f"{versioning.STAGING_PREFIX}{int(time.time())}-fresh"
    old.mkdir(), fresh.mkdir()
    assert versioning.remove_stale_staging(str(tmp_path), older_than_seconds=3600) == [old.name]
    assert fresh.exists()


def test_content_digest_of_torch_exports_covers_weights_and_labels_not_graphs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    weights = torch.nn.Linear(3, 2).state_dict()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        torch.save(weights, tmp_path / name / "state_dict.pt")
        (tmp_path / name / "labels.json").write_text('["x", "y"]')
        (tmp_path / name / "model.onnx").write_text(f"graph exported as {name}")
    assert model_content_digest(str(tmp_path / "a")) == model_content_digest(str(tmp_path / "b"))
    (tmp_path / "b" / "labels.json").write_text('["x", "z"]')
    assert model_content_digest(str(tmp_path / "b")) != model_content_digest(str(tmp_path / "a"))
    torch.save({"weight": weights["weight"] + 1, "bias": weights["bias"]}, tmp_path / "a" / "state_dict.pt")
    (tmp_path / "b" / "labels.json").write_text('["x", "y"]')
    assert model_content_digest(str(tmp_path / "b")) != model_content_digest(str(tmp_path / "a"))


def _push_at_once(barrier: "multiprocessing.synchronize.Barrier", model: str, serving: str, results: "multiprocessing.Queue") -> None:
    barrier.wait()
    result = versioning.push_model(model, serving)
    results.put((os.getpid(), result.pushed, result.version))


def _pushers(models: list[Path], serving: Path) -> list[tuple[int, bool, int]]:
    """Runs one push per model in its own process, all released at the same instant."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(models)), context.Queue()
    processes = [context.Process(target=_push_at_once, args=(barrier, str(model), str(serving), results)) for model in models]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    return [results.get(timeout=5) for _ in processes]


def test_pushers_of_the_same_model_at_once_push_it_once(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", "a", size=16_000_000)  # big enough that the copies overlap
    outcomes = _pushers([model, model, model], tmp_path / "serving")
    assert sorted((pushed, version) for _, pushed, version in outcomes) == [(False, 1), (False, 1), (True, 1)]
    assert versioning.pushed_versions(str(tmp_path / "serving")) == [1]


def test_two_pushers_of_different_models_at_once_claim_distinct_versions(tmp_path: Path) -> None:
    models = [_model(tmp_path / "m1", "a", size=8_000_000), _model(tmp_path / "m2", "b", size=8_000_000)]
    outcomes = _pushers(models, tmp_path / "serving")
    assert sorted(version for _, pushed, version in outcomes if pushed) == [1, 2]
    serving = str(tmp_path / "serving")
    digests = {versioning.read_manifest(os.path.join(serving, str(version)))["digest"] for version in (1, 2)}
    assert digests == {model_content_digest(str(model)) for model in models}
