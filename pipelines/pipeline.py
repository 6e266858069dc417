"""`create_pipeline(config, paths)`: the retrain TFX pipeline, one definition for every runner.

ExampleGen -> StatisticsGen -> SchemaGen (or ImportSchemaGen for a pinned schema) ->
ExampleValidator -> AnomaliesGate (stops on schema drift) -> LabelPrep (stable
label ids, seeded with the label map of the latest blessed model) -> Transform ->
Trainer (Hub backbone + new head) -> Resolver (latest blessed model other than the candidate) ->
Evaluator (absolute bound + change threshold vs. the baseline) -> VersionedPusher.
With `tuning.enabled` a search precedes each trainer (Tuner -> Trainer, TorchTuner -> TorchTrainer).
With `trainer: torch | both` the PyTorch branch (TorchTrainer -> its baseline resolver ->
TorchEvaluator with the same EvalConfig -> TorchPusher to `<model_name>-torch`) runs on the
same Transform output instead of / beside the TF one. What each branch's nodes are called
is in components/branches.py; how they are built (`_PARTS`) is here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Literal, Optional

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.example_gen.import_example_gen.component import ImportExampleGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.tuner.component import Tuner
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.span_range_strategy import SpanRangeStrategy
from tfx.orchestration import metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2
from tfx.proto import pusher_pb2
from tfx.proto import range_config_pb2
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.dsl.components.base.base_node import BaseNode

from retrain.components.resolvers.baseline import (
    BLESSING_KEY,
    CANDIDATE_KEY,
    MODEL_KEY,
    LatestBlessedOtherModelStrategy,
)
from retrain.components.branches import PYTORCH, TENSORFLOW, Branch, branches_for, model_filter
from retrain.components.data_gate.component import AnomaliesGate
from retrain.components.image_example_gen.component import ImageFolderExampleGen
from retrain.components.kubeflow import consumers as kubeflow_consumers
from retrain.components.label_prep.artifact import LabelMap
from retrain.components.label_prep.component import LabelPrep
from retrain.components.resolvers.label_map import EXAMPLES_KEY, LABEL_MAP_KEY, LatestBlessedLabelMapStrategy
from retrain.components.label_transform.component import LabelMappedTransform
from retrain.components.span_ranges import rolling_window
from retrain.components.evaluator_progress.component import Evaluator
from retrain.components.torch_evaluator.component import TorchEvaluator
from retrain.components.trainer_settings import trainer_custom_config, transform_custom_config, tuner_custom_config
from retrain.components.resolvers.framework import LatestBlessedLabelMapOfFramework, LatestBlessedOtherModelOfFramework
from retrain.components.torch_trainer.component import TorchTrainer
from retrain.components.torch_tuner.component import TorchTuner
from retrain.components.versioned_pusher.component import VersionedPusher
from retrain.pipelines.code_version import components_fingerprint
from retrain.pipelines.config import RetrainConfig
from retrain.pipelines.gate import eval_config_for
from retrain.pipelines.kubeflow import steps as kubeflow_steps
from retrain.pipelines.paths import RunPaths
from retrain.pipelines.trainer_settings import trainer_settings_for

TRANSFORM_FN = "retrain.components.hub_trainer.transform_module.preprocessing_fn"
TRAINER_FN = "retrain.components.hub_trainer.trainer_module.run_fn"
TUNER_FN = "retrain.components.hub_tuner.tuner_module.tuner_fn"
_HASH_BUCKETS = 100
Target = Literal["local", "kfp", "vertex"]  # local: Beam/Local runner; kfp, vertex: KubeflowV2DagRunner (pipelines/kubeflow)


def example_gen_for(config: RetrainConfig, range_config: Optional[range_config_pb2.RangeConfig] = None) -> BaseComponent:
    """The pipeline's ExampleGen for `config`'s data (pinned to spans by `range_config`, e.g. for back-filling)."""
    data = config.data
    if data.path is None:
        raise ValueError("data.path is not set: materialise the built-in example before building the pipeline")
    if data.train_pattern is not None and data.eval_pattern is not None:
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name="train", pattern=data.train_pattern),
                example_gen_pb2.Input.Split(name="eval", pattern=data.eval_pattern),
            ]
        )
        output_config = None
    else:
        eval_buckets = max(1, round(data.eval_fraction * _HASH_BUCKETS))
        input_config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=data.input_patterns()[0])])
        output_config = example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=_HASH_BUCKETS - eval_buckets),
                    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
                ]
            )
        )
    if data.is_images:
        return ImageFolderExampleGen(
            input_base=str(data.path),
            layout="folders" if data.format == "image_folders" else "manifest",
            image_feature=config.task.image_feature,
            label_feature=config.task.label_feature,
            max_rejected_fraction=data.max_rejected_fraction,
            read_threads=data.read_threads,
            allowed_roots=[str(root) for root in data.allowed_roots],
            max_image_pixels=data.max_image_pixels,
            input_config=input_config,
            output_config=output_config,
            range_config=range_config,
        )
    example_gen_class = ImportExampleGen if data.format == "tfrecord" else CsvExampleGen
    return example_gen_class(input_base=str(data.path), input_config=input_config, output_config=output_config, range_config=range_config)


def _span_window(config: RetrainConfig, example_gen: BaseComponent) -> Optional[BaseComponent]:
    """A resolver over the newest `span_window` spans ExampleGen has ingested (None for one span)."""
    if config.data.span_window <= 1:
        return None
    resolver = Resolver(
        strategy_class=SpanRangeStrategy,
        config={"range_config": rolling_window(config.data.span_window)},
        examples=Channel(type=standard_artifacts.Examples, producer_component_id=example_gen.id, output_key="examples"),
    ).with_id("span_window_resolver")
    resolver.add_upstream_node(example_gen)  # so this run's newest span is in the window
    return resolver


def _tf_tuner(examples: Channel, transform_graph: Channel, custom_config: dict[str, Any]) -> BaseComponent:
    return Tuner(
        tuner_fn=TUNER_FN,
        examples=examples,
        transform_graph=transform_graph,
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
        custom_config=custom_config,
    )


def _torch_tuner(examples: Channel, transform_graph: Channel, custom_config: dict[str, Any]) -> BaseComponent:
    return TorchTuner(examples=examples, transform_graph=transform_graph, custom_config=custom_config)


def _tf_trainer(**inputs: Any) -> BaseComponent:
    return Trainer(run_fn=TRAINER_FN, **inputs)


def _kubeflow_tf_trainer(**inputs: Any) -> BaseComponent:
    return kubeflow_consumers.Trainer(run_fn=TRAINER_FN, epochs=kubeflow_steps.epochs_parameter(), **inputs)


def _kubeflow_torch_trainer(**inputs: Any) -> BaseComponent:
    return kubeflow_consumers.TorchTrainer(epochs=kubeflow_steps.epochs_parameter(), **inputs)


def _tf_evaluation_data(examples: Channel, transform: BaseComponent) -> dict[str, Channel]:
    """TFMA evaluates the raw examples through the model's transform signature."""
    return {"examples": examples}


def _torch_evaluation_data(examples: Channel, transform: BaseComponent) -> dict[str, Channel]:
    """TorchEvaluator evaluates Transform's output."""
    return {"examples": transform.outputs["transformed_examples"], "transform_graph": transform.outputs["transform_graph"]}


@dataclass(frozen=True)
class _Parts:
    """How one branch's tuner, trainer and evaluator are built (their node ids: components/branches.py)."""

    tuner: Callable[[Channel, Channel, dict[str, Any]], BaseComponent]  # (examples, transform graph, custom_config)
    trainer: Callable[..., BaseComponent]  # takes examples, transform_graph, schema, base_model, custom_config, hyperparameters
    evaluator: type[BaseComponent]
    evaluation_data: Callable[[Channel, BaseComponent], dict[str, Channel]]  # (examples, Transform) -> its data inputs


_PARTS: dict[str, _Parts] = {
    TENSORFLOW: _Parts(tuner=_tf_tuner, trainer=_tf_trainer, evaluator=Evaluator, evaluation_data=_tf_evaluation_data),
    PYTORCH: _Parts(tuner=_torch_tuner, trainer=TorchTrainer, evaluator=TorchEvaluator, evaluation_data=_torch_evaluation_data),
}
# For a Kubeflow target: the trainers and evaluators that take an empty resolver step output as no input, the trainers with `epochs`
_KUBEFLOW_PARTS: dict[str, _Parts] = {
    TENSORFLOW: replace(_PARTS[TENSORFLOW], trainer=_kubeflow_tf_trainer, evaluator=kubeflow_consumers.Evaluator),
    PYTORCH: replace(_PARTS[PYTORCH], trainer=_kubeflow_torch_trainer, evaluator=kubeflow_consumers.TorchEvaluator),
}


def _tuner(config: RetrainConfig, transform: BaseComponent, parts: _Parts) -> Optional[BaseComponent]:
    """The search before a branch's trainer when `tuning.enabled`: TFX's Tuner (KerasTuner) or TorchTuner.

    Both run the same sampled trials, budget and scoring (components/tuning/space.py), each
    with its own trainer's code; the best hyperparameters feed that trainer. With `trainer: both`
    each framework searches for itself, so its model is the one `trainer: tf` or `trainer: torch` makes.
    """
    if not config.tuning.enabled:
        return None
    custom_config = tuner_custom_config(trainer_settings_for(config), components_fingerprint(), config.tuning)
    return parts.tuner(transform.outputs["transformed_examples"], transform.outputs["transform_graph"], custom_config)


def _trainer_config(config: RetrainConfig) -> dict[str, Any]:
    """The Trainer's and TorchTrainer's `custom_config`: the same settings, the TF handle and the PyTorch checkpoint each in its field."""
    return trainer_custom_config(trainer_settings_for(config), components_fingerprint())


def _strategy(all_models: type, of_framework: type, framework: Optional[str]) -> dict[str, Any]:
    """Resolver arguments: `all_models` (the unchanged `trainer: tf` pipeline), or `of_framework` for `framework`."""
    if framework is None:
        return {"strategy_class": all_models}
    return {"strategy_class": of_framework, "config": {"framework": framework}}


def _label_map_resolver(config: RetrainConfig, target: Target, examples: Channel, framework: Optional[str], node_id: str) -> BaseNode:
    """The latest blessed model's label map and the model itself (the warm start), of `framework` when given.

    A Resolver node locally; on Kubeflow a container step with the same id and outputs.
    """
    if target != "local":
        return kubeflow_steps.label_map_resolver_step(config, examples, framework, node_id)
    return Resolver(
        **_strategy(LatestBlessedLabelMapStrategy, LatestBlessedLabelMapOfFramework, framework),
        **{
            EXAMPLES_KEY: examples,
            MODEL_KEY: Channel(type=standard_artifacts.Model),
            BLESSING_KEY: Channel(type=standard_artifacts.ModelBlessing),
            LABEL_MAP_KEY: Channel(type=LabelMap),
        },
    ).with_id(node_id)


def _baseline_resolver(config: RetrainConfig, target: Target, candidate: Channel, framework: Optional[str], node_id: str) -> BaseNode:
    """The evaluation baseline of `candidate`: the latest other blessed model (of `framework` when given); as above per target."""
    if target != "local":
        return kubeflow_steps.baseline_resolver_step(config, candidate, framework, node_id)
    return Resolver(
        **_strategy(LatestBlessedOtherModelStrategy, LatestBlessedOtherModelOfFramework, framework),
        **{
            CANDIDATE_KEY: candidate,
            MODEL_KEY: Channel(type=standard_artifacts.Model),
            BLESSING_KEY: Channel(type=standard_artifacts.ModelBlessing),
        },
    ).with_id(node_id)


def _gate_and_push(
    config: RetrainConfig,
    evaluator_class: type[BaseComponent],
    data: dict[str, Channel],
    model: Channel,
    baseline: Channel,
    serving_dir: str,
) -> tuple[BaseComponent, BaseComponent]:
    """Evaluator -> VersionedPusher: `evaluator_class` gates `model` vs. `baseline` on `data`; blessed, it is pushed to `serving_dir`."""
    evaluator = evaluator_class(**data, model=model, baseline_model=baseline, eval_config=eval_config_for(config))
    pusher = VersionedPusher(
        model=model,
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)),
        model_evaluation=evaluator.outputs["evaluation"],
        max_accuracy_drop=config.evaluation.max_accuracy_drop_of(config.task.label_feature),
        task_max_accuracy_drops=_task_max_accuracy_drops(config),
    )
    return evaluator, pusher


def _task_max_accuracy_drops(config: RetrainConfig) -> Optional[dict[str, float]]:
    """With several tasks, each task's allowed drift below the best pushed model (None with one task)."""
    tasks = config.task.task_labels
    return {task: config.evaluation.max_accuracy_drop_of(task) for task in tasks} if len(tasks) > 1 else None


def _branch_nodes(
    config: RetrainConfig,
    paths: RunPaths,
    target: Target,
    branch: Branch,
    enabled: tuple[Branch, ...],
    examples: Channel,
    transform: BaseComponent,
    schema: Any,
    warm_start_resolver: BaseNode,
) -> list[BaseNode]:
    """[Tuner ->] trainer -> baseline (latest blessed model of its framework) -> evaluator -> pusher, for one branch."""
    parts = (_PARTS if target == "local" else _KUBEFLOW_PARTS)[branch.framework]
    tuner = _tuner(config, transform, parts)
    trainer = parts.trainer(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        base_model=warm_start_resolver.outputs[MODEL_KEY] if config.training.warm_start else None,
        custom_config=_trainer_config(config),
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
    ).with_id(branch.trainer_id)
    baseline_resolver = _baseline_resolver(config, target, trainer.outputs["model"], model_filter(enabled, branch), branch.baseline_resolver_id)
    evaluator, pusher = _gate_and_push(
        config,
        parts.evaluator,
        parts.evaluation_data(examples, transform),
        trainer.outputs["model"],
        baseline_resolver.outputs[MODEL_KEY],
        str(paths.serving_dir) + branch.serving_suffix,
    )
    return [*([tuner] if tuner else []), trainer, baseline_resolver, evaluator.with_id(branch.evaluator_id), pusher.with_id(branch.pusher_id)]


def statistics_options(config: RetrainConfig) -> Optional[tfdv.StatsOptions]:
    """StatisticsGen's options: an image task's input declared an image (TFDV `image_domain`), else TFDV's defaults (None).

    TFDV then gives the encoded images bytes statistics only, instead of hashing every image
    for its top-k and unique-value sketches (half of StatisticsGen's time on photos); the
    schema SchemaGen infers from the statistics is the same.
    """
    if config.task.type != "image_classification":
        return None
    schema = schema_pb2.Schema()
    schema.feature.add(name=config.task.input_feature, type=schema_pb2.BYTES).image_domain.SetInParent()
    return tfdv.StatsOptions(schema=schema)


def create_pipeline(config: RetrainConfig, paths: RunPaths, target: Target = "local") -> Pipeline:
    """The full retraining pipeline for `config`, writing under `paths`.

    For a Kubeflow `target` the resolver nodes become container steps with the same
    ids and outputs, and for `kfp` ExampleGen resolves its span in its own step
    (pipelines/kubeflow/steps.py); their consumers (LabelPrep, the trainers and
    evaluators) are the Kubeflow variants that accept an empty resolver output
    (components/kubeflow/consumers.py); everything else is the same definition.
    """
    example_gen = example_gen_for(config)
    span_probe: list[BaseNode] = []
    if target == "kfp":
        span_probe, example_gen = kubeflow_steps.span_resolving_example_gen(example_gen)
    if target != "local" and config.data.span_window > 1:
        span_window = kubeflow_steps.span_window_step(config, example_gen)
    else:
        span_window = _span_window(config, example_gen)
    examples = span_window.outputs["examples"] if span_window else example_gen.outputs["examples"]
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"], stats_options=statistics_options(config))
    if config.data.schema_file is not None:
        schema_gen = ImportSchemaGen(schema_file=str(config.data.schema_file))
    else:
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    enabled = branches_for(config.trainer)
    previous_label_map_resolver = _label_map_resolver(
        config, target, examples, model_filter(enabled, enabled[0]), kubeflow_steps.LABEL_MAP_RESOLVER_ID
    )
    label_prep_class = LabelPrep if target == "local" else kubeflow_consumers.LabelPrep
    label_prep = label_prep_class(
        examples=examples,
        label_feature=config.task.label_feature,
        input_feature=config.task.input_feature,
        settings=config.labels,
        previous_label_map=previous_label_map_resolver.outputs[LABEL_MAP_KEY],
        task_labels=config.task.task_labels,
    )
    label_prep.add_upstream_node(anomalies_gate)  # no training on data that does not match its schema
    transform = LabelMappedTransform(
        examples=examples,
        schema=schema_gen.outputs["schema"],
        label_map=label_prep.outputs["label_map"],
        preprocessing_fn=TRANSFORM_FN,
        custom_config=transform_custom_config(trainer_settings_for(config).inputs, components_fingerprint()),
    )
    branches: list[BaseNode] = []
    for branch in enabled:
        warm_start = previous_label_map_resolver
        if branch is not enabled[0]:  # the label map follows the first branch's model; the others warm-start from their own framework's
            assert branch.warm_start_resolver_id is not None  # every branch but the first has one (components/branches.py)
            warm_start = _label_map_resolver(config, target, examples, model_filter(enabled, branch), branch.warm_start_resolver_id)
            branches.append(warm_start)
        branches += _branch_nodes(config, paths, target, branch, enabled, examples, transform, schema_gen.outputs["schema"], warm_start)
    components = [
        *span_probe,
        example_gen,
        *([span_window] if span_window else []),
        statistics_gen,
        schema_gen,
        example_validator,
        anomalies_gate,
        previous_label_map_resolver,
        label_prep,
        transform,
        *branches,
    ]
    return pipeline_of(config, paths, components, target)


def nodes_without(nodes: list[BaseNode], drop: set[str]) -> list[BaseNode]:
    """`nodes` but those with an id in `drop`, their links to the dropped ones cut (e.g. only the Beam steps, to run them alone)."""
    kept = [node for node in nodes if node.id not in drop]
    for node in kept:
        for downstream in [down for down in node.downstream_nodes if down.id in drop]:
            node.remove_downstream_node(downstream)  # and the dropped node's upstream link
    return kept


def pipeline_of(config: RetrainConfig, paths: RunPaths, components: list[BaseNode], target: Target = "local") -> Pipeline:
    """`components` as the config's pipeline: its name, root, caching and Beam args; local runs record to the SQLite MLMD."""
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(paths.pipeline_root),
        components=components,
        enable_cache=config.runner.enable_cache,
        metadata_connection_config=(  # Kubeflow runs use the cluster's MLMD
            metadata.sqlite_metadata_connection_config(str(paths.metadata_path)) if target == "local" else None
        ),
        beam_pipeline_args=list(config.runner.beam_args),
    )
