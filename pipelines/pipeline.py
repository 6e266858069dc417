"""`create_pipeline(config, paths)`: the retrain TFX pipeline, one definition for every runner.

ExampleGen -> StatisticsGen -> SchemaGen (or ImportSchemaGen for a pinned schema) ->
ExampleValidator -> AnomaliesGate (stops on schema drift) -> LabelPrep (stable
label ids, seeded with the label map of the latest blessed model) -> Transform ->
Trainer (Hub backbone + new head) -> Resolver (latest blessed model other than the candidate) ->
Evaluator (absolute bound + change threshold vs. the baseline) -> VersionedPusher.
"""
from __future__ import annotations

from typing import Any, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.dsl.components.base.base_component import BaseComponent

from components.baseline_resolver.strategy import (
    BLESSING_KEY,
    CANDIDATE_KEY,
    MODEL_KEY,
    LatestBlessedOtherModelStrategy,
)
from components.data_gate.component import AnomaliesGate
from components.hub_trainer.export import TRANSFORM_SIGNATURE
from components.hub_trainer.features import LABEL_ID
from components.image_example_gen.component import ImageFolderExampleGen
from components.label_prep.artifact import LabelMap
from components.label_prep.component import LabelPrep
from components.label_prep.resolver import EXAMPLES_KEY, LABEL_MAP_KEY, LatestBlessedLabelMapStrategy
from components.label_transform.component import LabelMappedTransform
from components.versioned_pusher.component import VersionedPusher
from pipelines.code_version import components_fingerprint
from pipelines.config import RetrainConfig
from pipelines.paths import RunPaths

TRANSFORM_FN = "components.hub_trainer.transform_module.preprocessing_fn"
TRAINER_FN = "components.hub_trainer.trainer_module.run_fn"
_HASH_BUCKETS = 100


def _example_gen(config: RetrainConfig) -> BaseComponent:
    data = config.data
    if data.path is None:
        raise ValueError("data.path is not set: materialise the built-in example before building the pipeline")
    if data.train_pattern is not None and data.eval_pattern is not None:
        input_config = tfx.proto.Input(
            splits=[
                tfx.proto.Input.Split(name="train", pattern=data.train_pattern),
                tfx.proto.Input.Split(name="eval", pattern=data.eval_pattern),
            ]
        )
        output_config = None
    else:
        eval_buckets = max(1, round(data.eval_fraction * _HASH_BUCKETS))
        input_config = tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single_split", pattern=data.input_patterns()[0])])
        output_config = tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[
                    tfx.proto.SplitConfig.Split(name="train", hash_buckets=_HASH_BUCKETS - eval_buckets),
                    tfx.proto.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
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
            input_config=input_config,
            output_config=output_config,
        )
    example_gen_class = tfx.components.ImportExampleGen if data.format == "tfrecord" else tfx.components.CsvExampleGen
    return example_gen_class(input_base=str(data.path), input_config=input_config, output_config=output_config)


def _span_window(config: RetrainConfig, example_gen: BaseComponent) -> Optional[BaseComponent]:
    """A resolver over the newest `span_window` spans ExampleGen has ingested (None for one span)."""
    if config.data.span_window <= 1:
        return None
    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.SpanRangeStrategy,
        config={
            "range_config": tfx.proto.RangeConfig(
                rolling_range=tfx.proto.RollingRange(num_spans=config.data.span_window)
            )
        },
        examples=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.Examples, producer_component_id=example_gen.id, output_key="examples"
        ),
    ).with_id("span_window_resolver")
    resolver.add_upstream_node(example_gen)  # so this run's newest span is in the window
    return resolver


def _module_settings(config: RetrainConfig) -> dict[str, Any]:
    """What Transform and Trainer need to know, passed as their `custom_config`."""
    return {
        "code_version": components_fingerprint(),
        "task_type": config.task.type,
        "input_feature": config.task.input_feature,
        "label_feature": config.task.label_feature,
        "image_size": list(config.backbone.image_size),
        "channels": config.backbone.channels,
    }


def _trainer_settings(config: RetrainConfig) -> dict[str, Any]:
    training = config.training
    return {
        **_module_settings(config),
        "backbone_handle": config.backbone.handle,
        "mode": training.mode,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "learning_rate": training.learning_rate,
        "hidden_units": list(training.hidden_units),
        "dropout": training.dropout,
        "backbone_learning_rate_scale": training.backbone_learning_rate_scale,
        "unfreeze_blocks": training.unfreeze_blocks,
        "layer_decay": training.layer_decay,
        "fine_tune_epochs": training.fine_tune_epochs,
        "batchnorm": training.batchnorm,
        "block_pattern": training.block_pattern,
        "warm_start": training.warm_start,
        "seed": training.seed,
    }


def eval_config_for(config: RetrainConfig) -> tfma.EvalConfig:
    """Accuracy gate: at least `min_accuracy`, and at most `max_accuracy_drop` below the baseline.

    The multi-class confusion matrix (argmax predictions) is computed for the report's
    confusion matrix and per-class precision/recall; it does not take part in the gate.
    """
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.evaluation.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.evaluation.max_accuracy_drop - 1e-10},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=LABEL_ID,
                prediction_key="probabilities",
                preprocessing_function_names=[TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=threshold),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )


def create_pipeline(config: RetrainConfig, paths: RunPaths) -> tfx.dsl.Pipeline:
    """The full retraining pipeline for `config`, writing under `paths`."""
    example_gen = _example_gen(config)
    span_window = _span_window(config, example_gen)
    examples = span_window.outputs["examples"] if span_window else example_gen.outputs["examples"]
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    if config.data.schema_file is not None:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=str(config.data.schema_file))
    else:
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    previous_label_map_resolver = tfx.dsl.Resolver(
        strategy_class=LatestBlessedLabelMapStrategy,
        **{
            EXAMPLES_KEY: examples,
            MODEL_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            BLESSING_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
            LABEL_MAP_KEY: tfx.dsl.Channel(type=LabelMap),
        },
    ).with_id("previous_label_map_resolver")
    label_prep = LabelPrep(
        examples=examples,
        label_feature=config.task.label_feature,
        input_feature=config.task.input_feature,
        settings=config.labels,
        previous_label_map=previous_label_map_resolver.outputs[LABEL_MAP_KEY],
    )
    label_prep.add_upstream_node(anomalies_gate)  # no training on data that does not match its schema
    transform = LabelMappedTransform(
        examples=examples,
        schema=schema_gen.outputs["schema"],
        label_map=label_prep.outputs["label_map"],
        preprocessing_fn=TRANSFORM_FN,
        custom_config=_module_settings(config),
    )
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        base_model=previous_label_map_resolver.outputs[MODEL_KEY] if config.training.warm_start else None,
        custom_config=_trainer_settings(config),
    )
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=LatestBlessedOtherModelStrategy,
        **{
            CANDIDATE_KEY: trainer.outputs["model"],
            MODEL_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            BLESSING_KEY: tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        },
    ).with_id("baseline_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs[MODEL_KEY],
        eval_config=eval_config_for(config),
    )
    pusher = VersionedPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(paths.serving_dir))
        ),
    )
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(paths.pipeline_root),
        components=[
            example_gen,
            *([span_window] if span_window else []),
            statistics_gen,
            schema_gen,
            example_validator,
            anomalies_gate,
            previous_label_map_resolver,
            label_prep,
            transform,
            trainer,
            baseline_resolver,
            evaluator,
            pusher,
        ],
        enable_cache=config.runner.enable_cache,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(paths.metadata_path)),
        beam_pipeline_args=list(config.runner.beam_args),
    )
