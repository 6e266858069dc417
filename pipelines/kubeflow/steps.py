"""The Kubeflow variants of the pipeline's resolver nodes and ExampleGen (used by `create_pipeline`).

TFX's Kubeflow V2 compiler only compiles two stock resolver strategies, and
open-source KFP runs neither resolver executors nor ExampleGen's preCacheCheck
driver. So for a Kubeflow target each resolver node becomes a container step with
the same id and output keys (components/resolvers/kfp), and for `kfp` ExampleGen
resolves its span in its own step. A resolver step given a `framework` only
considers models of that framework (every model resolver unless `trainer: tf`,
as locally). On `kfp` an uncached span probe feeds ExampleGen the data version it
ingests, so ExampleGen's cache key follows the data (components/kubeflow/span_probe.py).
Runtime parameters (RUNTIME_PARAMETER_DEFAULTS):
`span` pins the span ExampleGen ingests (kfp; -1: the newest), `epochs` overrides
`training.epochs` in every trainer (0: keep it). The components that consume
resolver steps are their Kubeflow variants (components/kubeflow/consumers.py),
which take an empty resolver output as no input; the trainers among them take `epochs`.
"""

from __future__ import annotations

from typing import Any, Optional

from tfx.orchestration.data_types import RuntimeParameter
from tfx.types.channel import Channel
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.types import standard_component_specs

from retrain.components.resolvers.kfp.component import (
    BaselineModelResolver,
    LabelMapLineageResolver,
    SpanWindowResolver,
    grpc_connection,
)
from retrain.components.kubeflow.example_gen import NEWEST_SPAN, SpanResolvingExampleGen
from retrain.components.kubeflow.span_probe import DATA_VERSION_KEY, SpanProbe
from retrain.components.kubeflow.runtime_epochs import KEEP_CONFIGURED_EPOCHS
from retrain.components.branches import BRANCHES
from retrain.pipelines.config import RetrainConfig

SPAN_WINDOW_RESOLVER_ID = "span_window_resolver"
LABEL_MAP_RESOLVER_ID = "previous_label_map_resolver"
RESOLVER_STEP_IDS = (  # with each framework branch's baseline and warm-start resolvers (components/branches.py)
    SPAN_WINDOW_RESOLVER_ID,
    LABEL_MAP_RESOLVER_ID,
    *(branch.baseline_resolver_id for branch in BRANCHES),
    *(branch.warm_start_resolver_id for branch in BRANCHES if branch.warm_start_resolver_id),
)
SPAN_PROBE_ID = "span_probe"
UNCACHED_STEP_IDS = (*RESOLVER_STEP_IDS, SPAN_PROBE_ID)  # they must look at ML Metadata / the data on every run
SPAN_PARAMETER = "span"
EPOCHS_PARAMETER = "epochs"
RUNTIME_PARAMETER_DEFAULTS: dict[str, int] = {SPAN_PARAMETER: NEWEST_SPAN, EPOCHS_PARAMETER: KEEP_CONFIGURED_EPOCHS}


def _connection(config: RetrainConfig) -> str:
    return grpc_connection(config.kubeflow.metadata.host, config.kubeflow.metadata.port)


def span_resolving_example_gen(example_gen: BaseComponent) -> tuple[list[BaseComponent], BaseComponent]:
    """([its span probe], `example_gen` resolving its span in its own container); the `span` runtime parameter pins one (-1: newest)."""
    assert isinstance(example_gen, FileBasedExampleGen), type(example_gen)
    span = RuntimeParameter(name=SPAN_PARAMETER, ptype=int, default=NEWEST_SPAN)
    properties = example_gen.exec_properties
    probe = SpanProbe(
        input_base=properties[standard_component_specs.INPUT_BASE_KEY],
        input_config=properties[standard_component_specs.INPUT_CONFIG_KEY],
        range_config=properties.get(standard_component_specs.RANGE_CONFIG_KEY),
        requested_span=span,
    ).with_id(SPAN_PROBE_ID)
    data_version = probe.outputs[DATA_VERSION_KEY].future()[0].value
    return [probe], SpanResolvingExampleGen(example_gen, span=span, data_version=data_version)


def link_output_parameters(spec: dict[str, Any]) -> None:
    """Points each task input fed by an output parameter at its producer task.

    TFX v1.16.0's V2 compiler names the producer `<component id>_task`
    (`tfx/orchestration/kubeflow/v2/step_builder.py`) while the task itself is
    named `<component id>`; the KFP driver looks the producer up by task name.
    """
    tasks = spec["root"]["dag"]["tasks"]
    for task in tasks.values():
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            producer = parameter.get("taskOutputParameter")
            if producer and producer["producerTask"] not in tasks and producer["producerTask"].removesuffix("_task") in tasks:
                producer["producerTask"] = producer["producerTask"].removesuffix("_task")


def span_window_step(config: RetrainConfig, example_gen: BaseComponent) -> BaseComponent:
    """The container step for `span_window_resolver`."""
    return SpanWindowResolver(
        latest=example_gen.outputs["examples"],
        num_spans=config.data.span_window,
        pipeline_name=config.pipeline_name,
        metadata_connection=_connection(config),
    ).with_id(SPAN_WINDOW_RESOLVER_ID)


def label_map_resolver_step(config: RetrainConfig, examples: Channel, framework: Optional[str], node_id: str) -> BaseComponent:
    """The container step for a label-map resolver (outputs `label_map` and `model`); `framework`: None for all models."""
    return LabelMapLineageResolver(
        examples=examples, pipeline_name=config.pipeline_name, metadata_connection=_connection(config), framework=framework
    ).with_id(node_id)


def baseline_resolver_step(config: RetrainConfig, candidate: Channel, framework: Optional[str], node_id: str) -> BaseComponent:
    """The container step for a baseline resolver (output `model`); `framework`: None for all models."""
    return BaselineModelResolver(
        candidate=candidate, pipeline_name=config.pipeline_name, metadata_connection=_connection(config), framework=framework
    ).with_id(node_id)


def epochs_parameter() -> RuntimeParameter:
    """The `epochs` runtime parameter of the trainers (0: the configured number)."""
    return RuntimeParameter(name=EPOCHS_PARAMETER, ptype=int, default=KEEP_CONFIGURED_EPOCHS)
