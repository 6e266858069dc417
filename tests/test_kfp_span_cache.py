"""Scheduled runs ingest new data: ExampleGen's KFP cache key follows the span probe's `data_version`.

The cache key is computed as the KFP v2 driver computes it (tests/kfp_driver.py
`cache_key`, from kubeflow/pipelines `backend/src/v2/cacheutils/cache.go` at 2.4.0
and 2.5.0); the probe runs for real through the step entrypoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kfp_driver import cache_key, driver_executor_input, step_args

from retrain.components.kubeflow.entrypoint import run_step
from retrain.components.kubeflow.example_gen import DATA_VERSION_KEY, span_of_data_version
from retrain.components.kubeflow.mirror import MIRROR_PREFIX_ENV
from retrain.pipelines.config import config_from_dict
from retrain.pipelines.kubeflow.compile import compile_pipeline_spec
from retrain.pipelines.kubeflow.steps import SPAN_PROBE_ID

EXAMPLE_GEN = "ImportExampleGen"
SPAN_CONFIG = json.dumps({"splits": [{"name": s, "pattern": f"span-{{SPAN}}/{s}/*"} for s in ("train", "eval")]})


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    return compile_pipeline_spec(config_from_dict({}))["pipeline_spec"]


def _write_span(data: Path, span: int, payload: bytes = b"records") -> None:
    for split in ("train", "eval"):
        (data / f"span-{span}" / split).mkdir(parents=True, exist_ok=True)
        (data / f"span-{span}" / split / "part.tfrecord").write_bytes(payload)


def _scheduled_run(compiled: dict[str, Any], data: Path, run: int, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """One run's span probe (real, through the entrypoint), then ExampleGen's executor input and cache key."""
    run_root = f"minio://mlpipeline/v2/artifacts/retrain/run-{run}"
    same_data = {"input_base": str(data), "input_config": SPAN_CONFIG}
    probe_input = driver_executor_input(compiled, SPAN_PROBE_ID, str(tmp_path / f"probe-{run}.json"), run_root)
    probe_input["inputs"]["parameterValues"].update(same_data)
    run_step(step_args(compiled, SPAN_PROBE_ID, json.dumps(probe_input)))
    reported = json.loads((tmp_path / f"probe-{run}.json").read_text())["parameterValues"]
    example_gen_input = driver_executor_input(
        compiled,
        EXAMPLE_GEN,
        str(tmp_path / f"gen-{run}.json"),
        run_root,
        upstream_parameters={(SPAN_PROBE_ID, DATA_VERSION_KEY): reported[DATA_VERSION_KEY]},
    )
    example_gen_input["inputs"]["parameterValues"].update(same_data)
    return example_gen_input, cache_key(compiled, EXAMPLE_GEN, example_gen_input)


def _key_without_probe(compiled: dict[str, Any], executor_input: dict[str, Any]) -> str:
    parameters = {k: v for k, v in executor_input["inputs"]["parameterValues"].items() if k != DATA_VERSION_KEY}
    return cache_key(compiled, EXAMPLE_GEN, {**executor_input, "inputs": {**executor_input["inputs"], "parameterValues": parameters}})


def test_example_gen_cache_key_changes_exactly_when_the_data_does(compiled: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_PREFIX_ENV, str(tmp_path / "mirror"))
    tasks = compiled["root"]["dag"]["tasks"]
    assert tasks[SPAN_PROBE_ID]["cachingOptions"] == {"enableCache": False} and tasks[EXAMPLE_GEN]["cachingOptions"] == {"enableCache": True}
    data = tmp_path / "data"
    _write_span(data, 1)
    first, first_key = _scheduled_run(compiled, data, 1, tmp_path)
    second, second_key = _scheduled_run(compiled, data, 2, tmp_path)
    assert second_key == first_key  # unchanged data: served from cache
    assert span_of_data_version(second["inputs"]["parameterValues"][DATA_VERSION_KEY]) == 1

    _write_span(data, 2)
    third, third_key = _scheduled_run(compiled, data, 3, tmp_path)
    assert _key_without_probe(compiled, third) == _key_without_probe(compiled, first)  # the defect: nothing else changes
    assert third_key != first_key and span_of_data_version(third["inputs"]["parameterValues"][DATA_VERSION_KEY]) == 2

    _write_span(data, 2, payload=b"records, corrected")  # the same span rewritten
    _, fourth_key = _scheduled_run(compiled, data, 4, tmp_path)
    assert fourth_key not in (first_key, third_key)
