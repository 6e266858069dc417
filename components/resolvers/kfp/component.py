"""Container steps that replace the pipeline's resolver nodes on Kubeflow (spec and TFX wiring).

Each queries ML Metadata (the cluster's gRPC service) with the same semantics as
the local resolver strategy of the same id and copies what it resolved into its
own output artifact (see executor.py), so downstream steps read ordinary inputs.
"""

from __future__ import annotations

import json
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from retrain.components.resolvers.kfp import executor
from retrain.components.label_prep.artifact import LabelMap

EXAMPLES_KEY = "examples"
CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
LABEL_MAP_KEY = "label_map"
PIPELINE_NAME = "pipeline_name"
METADATA_CONNECTION = "metadata_connection"
NUM_SPANS = "num_spans"
FRAMEWORK = "framework"  # only models of this framework count (unset: every model, as with `trainer: tf`)
LATEST_KEY = "latest"


def grpc_connection(host: str, port: int) -> str:
    """The `metadata_connection` parameter for an MLMD gRPC service."""
    return json.dumps({"host": host, "port": port})


def sqlite_connection(path: str) -> str:
    """The `metadata_connection` parameter for a SQLite MLMD file (local runs and tests)."""
    return json.dumps({"sqlite": path})


_COMMON = {PIPELINE_NAME: ExecutionParameter(type=str), METADATA_CONNECTION: ExecutionParameter(type=str)}
_MODEL_FILTER = {FRAMEWORK: ExecutionParameter(type=str, optional=True)}


class LabelMapLineageResolverSpec(ComponentSpec):
    """Input: this run's examples. Outputs: the seed label map and the warm-start model (empty when none)."""

    PARAMETERS = {**_COMMON, **_MODEL_FILTER}
    INPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {LABEL_MAP_KEY: ChannelParameter(type=LabelMap), MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class BaselineModelResolverSpec(ComponentSpec):
    """Input: the candidate model. Output: the latest blessed model other than it (empty when none)."""

    PARAMETERS = {**_COMMON, **_MODEL_FILTER}
    INPUTS = {CANDIDATE_KEY: ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class SpanWindowResolverSpec(ComponentSpec):
    """Input: this run's examples (`latest`). Output: one Examples artifact holding the newest `num_spans` spans."""

    PARAMETERS = {**_COMMON, NUM_SPANS: ExecutionParameter(type=int)}
    INPUTS = {LATEST_KEY: ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class LabelMapLineageResolver(base_component.BaseComponent):
    """The label map and warm-start model behind the latest blessed model (of `framework`, when given).

    As LatestBlessedLabelMapStrategy (with `framework`: LatestBlessedLabelMapOfFramework).
    """

    SPEC_CLASS = LabelMapLineageResolverSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.LabelMapLineageExecutor)

    def __init__(self, examples: types.BaseChannel, pipeline_name: str, metadata_connection: str, framework: Optional[str] = None) -> None:
        super().__init__(
            spec=LabelMapLineageResolverSpec(
                examples=examples,
                pipeline_name=pipeline_name,
                metadata_connection=metadata_connection,
                framework=framework,
                label_map=types.Channel(type=LabelMap),
                model=types.Channel(type=standard_artifacts.Model),
            )
        )


class BaselineModelResolver(base_component.BaseComponent):
    """The evaluation baseline: the latest blessed model (of `framework`, when given) that is not the candidate.

    As LatestBlessedOtherModelStrategy (with `framework`: LatestBlessedOtherModelOfFramework).
    """

    SPEC_CLASS = BaselineModelResolverSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.BaselineModelExecutor)

    def __init__(self, candidate: types.BaseChannel, pipeline_name: str, metadata_connection: str, framework: Optional[str] = None) -> None:
        super().__init__(
            spec=BaselineModelResolverSpec(
                candidate=candidate,
                pipeline_name=pipeline_name,
                metadata_connection=metadata_connection,
                framework=framework,
                model=types.Channel(type=standard_artifacts.Model),
            )
        )


class SpanWindowResolver(base_component.BaseComponent):
    """The newest `num_spans` spans ExampleGen has ingested, merged into one Examples artifact (as SpanRangeStrategy)."""

    SPEC_CLASS = SpanWindowResolverSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.SpanWindowExecutor)

    def __init__(self, latest: types.BaseChannel, num_spans: int, pipeline_name: str, metadata_connection: str) -> None:
        super().__init__(
            spec=SpanWindowResolverSpec(
                latest=latest,
                num_spans=num_spans,
                pipeline_name=pipeline_name,
                metadata_connection=metadata_connection,
                examples=types.Channel(type=standard_artifacts.Examples),
            )
        )
