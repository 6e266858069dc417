"""An ExampleGen step that resolves its span inside its own container (for open-source Kubeflow Pipelines).

TFX compiles a FileBasedExampleGen's driver (span/version resolution and the input
fingerprint) as a `lifecycle.preCacheCheck` hook, which only Vertex AI runs.
`SpanResolvingExampleGen` wraps any FileBasedExampleGen (Import, Csv,
ImageFolder): same parameters and output, but its executor first does what the
driver would, then runs the wrapped ExampleGen's executor. `span` (a runtime
parameter in compiled pipelines) pins a span; -1 takes the newest on disk.
With `data_version` (the output parameter of span_probe.SpanProbe, which also
makes KFP's cache key follow the data), the span named there is ingested.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Union

from absl import logging
from tfx import types
from tfx.components.example_gen import driver, utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.dsl.placeholder import placeholder
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import import_utils, name_utils, proto_utils

from retrain.components.image_example_gen.driver import LinkSafeInputProcessor
from retrain.components.span_ranges import static_span

WRAPPED_EXECUTOR_KEY = "wrapped_executor"
SPAN_KEY = "requested_span"
DATA_VERSION_KEY = "data_version"
NEWEST_SPAN = -1


def has_spans(input_config_json: str) -> bool:
    """Whether an ExampleGen input config's split patterns hold a span (`{SPAN}`) or date spec."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(input_config_json, input_config)
    return any(
        re.search(utils.SPAN_FULL_REGEX, split.pattern) or any(spec in split.pattern for spec in utils.DATE_SPECS) for split in input_config.splits
    )


def span_of_data_version(value: str) -> int:
    """The span a SpanProbe's `data_version` (`<span>:<version>:<digest>`) names."""
    span, _, _ = value.split(":", 2)
    return int(span)


def resolve_span(exec_properties: dict[str, Any], requested_span: int = NEWEST_SPAN) -> dict[str, Any]:
    """The exec properties after the FileBasedDriver's work: span, version, fingerprint and span-resolved patterns."""
    resolved = dict(exec_properties)
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(resolved[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    range_config = None
    if requested_span != NEWEST_SPAN:
        range_config = static_span(requested_span)
    elif resolved.get(standard_component_specs.RANGE_CONFIG_KEY):
        range_config = range_config_pb2.RangeConfig()
        proto_utils.json_to_proto(resolved[standard_component_specs.RANGE_CONFIG_KEY], range_config)
    processor = LinkSafeInputProcessor(  # a dangling symlink is a counted rejection, not a crash
        resolved[standard_component_specs.INPUT_BASE_KEY], input_config.splits, range_config
    )
    span, version = processor.resolve_span_and_version()
    resolved[utils.SPAN_PROPERTY_NAME] = span
    resolved[utils.VERSION_PROPERTY_NAME] = version
    resolved[utils.FINGERPRINT_PROPERTY_NAME] = processor.get_input_fingerprint(span, version)
    for split in input_config.splits:
        split.pattern = processor.get_pattern_for_span_version(split.pattern, span, version)
    resolved[standard_component_specs.INPUT_CONFIG_KEY] = proto_utils.proto_to_json(input_config)
    return resolved


class Executor(base_beam_executor.BaseBeamExecutor):
    """Resolves the span as the driver would, then runs the wrapped ExampleGen executor."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
        properties = dict(exec_properties)
        wrapped = import_utils.import_class_by_path(properties.pop(WRAPPED_EXECUTOR_KEY))
        requested = properties.pop(SPAN_KEY, None)
        probed = properties.pop(DATA_VERSION_KEY, None)
        if probed and has_spans(properties[standard_component_specs.INPUT_CONFIG_KEY]):
            requested = span_of_data_version(probed)
        properties = resolve_span(properties, NEWEST_SPAN if requested is None else int(requested))
        logging.info("ExampleGen span %s, version %s", properties[utils.SPAN_PROPERTY_NAME], properties[utils.VERSION_PROPERTY_NAME])
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        driver.update_output_artifact(exec_properties=properties, output_artifact=examples.mlmd_artifact)
        wrapped(self._context).Do(input_dict, output_dict, properties)


class SpanResolvingExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's spec plus the wrapped executor's class path, the requested span and the probed data version."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        WRAPPED_EXECUTOR_KEY: ExecutionParameter(type=str),
        SPAN_KEY: ExecutionParameter(type=int, optional=True),
        DATA_VERSION_KEY: ExecutionParameter(type=str, optional=True),
    }


class SpanResolvingExampleGen(base_beam_component.BaseBeamComponent):
    """`example_gen` with its span resolved in its own step; keeps its id."""

    SPEC_CLASS = SpanResolvingExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        example_gen: FileBasedExampleGen,
        span: Union[int, data_types.RuntimeParameter] = NEWEST_SPAN,
        data_version: Optional[placeholder.Placeholder] = None,
    ) -> None:
        super().__init__(
            spec=SpanResolvingExampleGenSpec(
                **example_gen.exec_properties,
                **{
                    WRAPPED_EXECUTOR_KEY: name_utils.get_full_name(example_gen.executor_spec.executor_class),
                    SPAN_KEY: span,
                    DATA_VERSION_KEY: data_version,
                },
                examples=types.Channel(type=standard_artifacts.Examples),
            )
        )
        self.with_id(example_gen.id)
