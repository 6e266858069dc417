"""The framework-neutral training core: PyTorch imports it without TensorFlow, and its rules match the TF trainer's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from retrain.components.training_core.cpu_features import native_bfloat16
from retrain.components.training_core.validation import validation_mask
from retrain.components.training_core.warm_start import copy_matching

REPO = Path(__file__).resolve().parent.parent

# What a PyTorch DDP worker, TorchTrainer's training and export, and TorchEvaluator's predictions run.
WORKER_MODULES = [
    "retrain.components.torch_trainer.worker",
    "retrain.components.torch_trainer.launch",
    "retrain.components.torch_trainer.accelerate",
    "retrain.components.torch_trainer.data",
    "retrain.components.torch_trainer.model",
    "retrain.components.torch_trainer.training",
    "retrain.components.torch_trainer.warm_start",
    "retrain.components.torch_trainer.export",
    "retrain.components.torch_evaluator.predictions",
    "retrain.components.torch_tuner.search",
]
# The TFX side of the PyTorch branch: TFX executors and components, so TFX (and with it TensorFlow) loads.
EXECUTOR_MODULES = [
    "retrain.components.torch_trainer.component",
    "retrain.components.torch_trainer.executor",
    "retrain.components.torch_evaluator.component",
    "retrain.components.torch_evaluator.executor",
    "retrain.components.torch_evaluator.gate",
    "retrain.components.torch_tuner.executor",
]
TENSORFLOW = ["tensorflow", "tf_keras", "keras", "tensorflow_hub", "tensorflow_transform", "tensorflow_model_analysis", "tfx", "tfx_bsl"]


def _import_blocking(modules: list[str], blocked: list[str]) -> dict[str, list[str]]:
    """Imports `modules` in a fresh interpreter whose import system refuses `blocked` top-level packages.

    Returns the project's TF trainer modules and the blocked packages that got loaded.
    """
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, json, sys

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.partition(".")[0] in {blocked!r}:
                    raise ImportError(f"blocked in this test: {{name}}")
                return None

        sys.meta_path.insert(0, Refuse())
        for module in {modules!r}:
            importlib.import_module(module)
        loaded = sorted(sys.modules)
        print(json.dumps({{
            "hub_trainer": [name for name in loaded if name.startswith("retrain.components.hub_trainer")],
            "blocked": [name for name in loaded if name.partition(".")[0] in {blocked!r}],
        }}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_pytorch_worker_imports_with_tensorflow_blocked() -> None:
    loaded = _import_blocking(WORKER_MODULES, TENSORFLOW)
    assert loaded == {"hub_trainer": [], "blocked": []}


def test_the_pytorch_executors_load_no_tf_trainer_module() -> None:
    # TFX itself loads TensorFlow; the TF trainer's package and TF Hub must stay out.
    loaded = _import_blocking(EXECUTOR_MODULES, ["tensorflow_hub"])
    assert loaded == {"hub_trainer": [], "blocked": []}


def test_the_blocker_refuses_what_it_names() -> None:
    with pytest.raises(AssertionError, match="blocked in this test: tensorflow"):
        _import_blocking(["retrain.components.hub_trainer.training"], ["tensorflow"])


@pytest.mark.parametrize("seed", [0, 7, 42])
def test_the_numpy_validation_subset_is_the_tensorflow_one(seed: int) -> None:
    import tensorflow as tf

    from retrain.components.hub_trainer.validation import validation_mask as tf_validation_mask

    rng = np.random.RandomState(seed)
    texts = ["", "a", "seven!!", "eight!!!", "nine!!!!!", "ümlaut ✓ 😀", "trailing nul\x00"]
    texts += ["".join(chr(code) for code in rng.randint(32, 3000, size=rng.randint(0, 40))) for _ in range(400)]
    images = rng.uniform(-2, 2, size=(400, 6, 5, 3)).astype(np.float32)
    for inputs in (texts, images, images[:, 0, 0, 0]):
        expected = tf_validation_mask(tf.constant(inputs), 0.3, seed).numpy()
        chosen = validation_mask(inputs, 0.3, seed)
        assert 0 < chosen.sum() < len(chosen)
        np.testing.assert_array_equal(chosen, expected)


def _copy(target: np.ndarray, source: np.ndarray) -> None:
    target[...] = source


@pytest.mark.parametrize("class_axis", [0, -1])
def test_warm_start_restores_same_shapes_expands_the_head_and_skips_the_rest(class_axis: int) -> None:
    def classes(count: int) -> tuple[int, int]:
        return (count, 4) if class_axis == 0 else (4, count)

    sources = {"body": np.ones((4, 4)), "head": np.ones(classes(2)), "bias": np.ones(2), "other": np.ones(3)}
    targets = {"body": np.zeros((4, 4)), "head": np.zeros(classes(3)), "bias": np.zeros(3), "other": np.zeros(5), "new": np.zeros(1)}

    def expand(target: np.ndarray, source: np.ndarray) -> None:
        np.moveaxis(target, class_axis, 0)[: source.shape[class_axis]] = np.moveaxis(source, class_axis, 0)

    report = copy_matching(targets.items(), sources, ("head", "bias"), class_axis, _copy, expand)
    assert (report.restored, report.expanded, report.skipped) == (["body"], ["head", "bias"], ["other", "new"])
    assert targets["body"].all() and targets["bias"].tolist() == [1, 1, 0]
    assert np.moveaxis(targets["head"], class_axis, 0).sum(axis=1).tolist() == [4, 4, 0]
    assert report.summary() == "warm start: 1 variables restored, 2 expanded for new classes, 2 left as initialised"


def test_warm_start_never_shrinks_a_head_or_expands_along_another_axis() -> None:
    sources = {"head": np.ones((3, 4)), "wide": np.ones((2, 5))}
    targets = {"head": np.zeros((2, 4)), "wide": np.zeros((3, 4))}
    report = copy_matching(targets.items(), sources, ("head", "wide"), 0, _copy, _copy)
    assert report.skipped == ["head", "wide"] and not targets["head"].any() and not targets["wide"].any()


def test_a_carve_that_empties_either_part_is_refused_in_one_line() -> None:
    import torch

    from retrain.components.torch_trainer.data import carve_validation

    data = (torch.arange(12, dtype=torch.float32).reshape(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError, match=r"^the validation subset is empty: none of 3 train examples fell in training\.validation_fraction 1e-06; raise it"
    ):
        carve_validation(data, 1e-6, seed=0)
    with pytest.raises(ValueError, match=r"^no training examples left: all 3 train examples fell in the validation subset"):
        carve_validation(data, 0.999999, seed=0)
    train, validation = carve_validation(data, 0.5, seed=1)
    assert len(train[1]) + len(validation[1]) == 3


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", True),
        ("processor\t: 0\nflags\t\t: fpu avx512f amx_tile amx_bf16\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\nbugs\t\t: avx512_bf16\n", False),
        ("processor\t: 0\nFeatures\t: fp asimd bf16\n", False),
    ],
)
def test_native_bfloat16_reads_the_cpu_flags(tmp_path: Path, cpuinfo: str, expected: bool) -> None:
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    assert native_bfloat16(str(tmp_path / "cpuinfo")) is expected
    assert native_bfloat16(str(tmp_path / "missing")) is False
