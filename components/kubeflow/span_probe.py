"""An uncached step that tells ExampleGen's cache key what data is on disk (open-source Kubeflow Pipelines).

KFP's cache key is the step's input artifact names, input parameter values,
output specs, command and image (kubeflow/pipelines `backend/src/v2/cacheutils/cache.go`
`GenerateCacheKey`, 2.4.0 and 2.5.0). With `span: -1` none of these changes when a
new span lands, so a cached ExampleGen would serve the first run's span forever.

Contract: `SpanProbe` (never cached) resolves the span ExampleGen would ingest
(`example_gen.resolve_span`, the FileBasedDriver's logic) and outputs
`data_version` = "<span>:<version>:<digest of the input fingerprint>" (number of
files, bytes and modification-time checksums per split) as an output parameter.
ExampleGen takes it as its `data_version` input parameter, so its cache key
changes exactly when the data does, and ingests the span named there (not
whatever is newest by the time it runs).
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional, Union

from tfx import types
from tfx.components.example_gen import utils
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.orchestration import data_types
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from retrain.components.kubeflow.example_gen import DATA_VERSION_KEY, NEWEST_SPAN, SPAN_KEY, resolve_span


def data_version(resolved_properties: dict[str, Any]) -> str:
    """`<span>:<version>:<digest>` of exec properties after `resolve_span`."""
    fingerprint = str(resolved_properties[utils.FINGERPRINT_PROPERTY_NAME])
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    version = resolved_properties[utils.VERSION_PROPERTY_NAME]
    return f"{resolved_properties[utils.SPAN_PROPERTY_NAME]}:{'' if version is None else version}:{digest}"


class Executor(base_executor.BaseExecutor):
    """Writes the `data_version` of the span ExampleGen would ingest."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        properties = dict(exec_properties)
        requested = properties.pop(SPAN_KEY, None)
        version = data_version(resolve_span(properties, NEWEST_SPAN if requested is None else int(requested)))
        artifact_utils.get_single_instance(output_dict[DATA_VERSION_KEY]).value = version


class SpanProbeSpec(ComponentSpec):
    """ExampleGen's input parameters (base, splits, range) and the requested span; output: `data_version`."""

    PARAMETERS = {
        standard_component_specs.INPUT_BASE_KEY: ExecutionParameter(type=str),
        standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(type=str),
        standard_component_specs.RANGE_CONFIG_KEY: ExecutionParameter(type=str, optional=True),
        SPAN_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS: dict[str, ChannelParameter] = {}
    OUTPUTS = {DATA_VERSION_KEY: ChannelParameter(type=standard_artifacts.String)}


class SpanProbe(base_component.BaseComponent):
    """The `data_version` of the span an ExampleGen with these parameters would ingest."""

    SPEC_CLASS = SpanProbeSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        input_base: str,
        input_config: str,
        range_config: Optional[str] = None,
        requested_span: Union[int, data_types.RuntimeParameter] = NEWEST_SPAN,
    ) -> None:
        super().__init__(
            spec=SpanProbeSpec(
                input_base=input_base,
                input_config=input_config,
                range_config=range_config,
                requested_span=requested_span,
                data_version=types.Channel(type=standard_artifacts.String),
            )
        )
