"""Container entrypoint of every compiled step: TFX's Kubeflow V2 executor runner, made to keep the KFP v2 contract.

    python -m retrain.components.kubeflow.entrypoint --executor_class_path ... --json_serialized_invocation_args {{$}} \
        --json_serialized_inputs_spec_args ...

Design (kubeflow/pipelines 2.4.0 and 2.5.0, TFX v1.16.0; details in each module):

- Artifact types (step_input.py). The driver passes input artifacts with
  `instanceSchema: ""`; each input gets the type its component declares in the
  compiled `--json_serialized_inputs_spec_args` before TFX's runner parses it.
  Custom types: TFX imports a type name as a Python path (`retrain.LabelMap` ->
  module `retrain`, class `LabelMap`) and KFP schema titles allow a single dot, so
  a `retrain` module holding the custom types is registered first.
- Mirror paths (mirror.py, step_input.py). Artifact URIs on `minio://`, `s3://`
  and `gs://` roots become the launcher's local mirrors (`/minio/B/K`, `/s3/B/K`,
  `/gcs/B/K`), which the launcher downloads inputs to and uploads outputs from;
  the ExecutorOutput reports the original URIs again. A resolver step copies
  the resolved artifact from the object store into its own output's mirror
  (executor.emit, object_store.py), which the launcher uploads under this run's
  root, so the consuming step downloads it as an ordinary input (a pod can read
  no artifact but its inputs). Resolvers compare URIs with `mirror.uri_of` on
  both sides.
- Span probe (span_probe.py). An uncached step resolves the span ExampleGen will
  ingest and outputs `data_version` = `<span>:<version>:<fingerprint digest>` as
  an output parameter, which ExampleGen takes as its `data_version` input
  parameter (and ingests that span): its cache key (inputs, parameters, command,
  image; `backend/src/v2/cacheutils/cache.go`) changes exactly when the data does.
- Namespace (namespace.py). Resolvers only consider artifacts attributed to runs
  (`system.PipelineRun` contexts) whose `namespace` property is the step's own
  namespace (the pod's service-account namespace, as the driver reads it;
  `RETRAIN_KFP_NAMESPACE` overrides it). Local executors of the compiled spec that
  cannot write `/minio` set `RETRAIN_KFP_MIRROR_PREFIX` to move the mirror roots.

What a local executor of the compiled spec must do as the launcher does for this
to hold: merge each reported output's `uri` and `metadata` over the provisioned
one before uploading from (and recording) that URI, record metadata as MLMD
custom properties (`resolved_from` reaches consumers that way), provision
`outputs.parameters` from the component's output definitions and pass the
reported `parameterValues` on as `taskOutputParameter` inputs (`data_version`).

tensorflow_text's ops are registered too (converted text Hub modules need them).
"""

from __future__ import annotations

import argparse
import sys
import types as python_types
from typing import Sequence

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.types.artifact import Artifact

from retrain.components.compat.tfx_private import parse_kubeflow_v2_executor_flags
from retrain.components.kubeflow.step_input import prepare_step, restore_output_uris
from retrain.components.label_prep.artifact import LabelMap

CUSTOM_ARTIFACT_TYPES: tuple[type[Artifact], ...] = (LabelMap,)  # add new `retrain.*` artifact types here
COMMAND = ("python", "-m", "retrain.components.kubeflow.entrypoint")


def register_artifact_types() -> None:
    """Makes each custom type importable by its TYPE_NAME (`retrain.LabelMap`)."""
    for artifact_type in CUSTOM_ARTIFACT_TYPES:
        module_name, class_name = artifact_type.TYPE_NAME.split(".")
        module = sys.modules.setdefault(module_name, python_types.ModuleType(module_name, "retrain's custom TFX artifact types"))
        setattr(module, class_name, artifact_type)


def register_text_ops() -> None:
    """Registers tensorflow_text's WordPiece ops, used by text backbones from `retrain export-hub-text`."""
    import tensorflow_text  # noqa: F401


def _make_output_dirs(invocation_json: str) -> None:
    """Creates the outputs' directories (value artifacts: their parent), as TFX's own launchers do."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
    from tfx.orchestration.portable import outputs_utils

    executor_input = json_format.Parse(invocation_json, pipeline_spec_pb2.ExecutorInput(), ignore_unknown_fields=True)
    outputs_utils.make_output_dirs(kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(executor_input.outputs.artifacts))


def run_parsed(parsed: tuple[argparse.Namespace, list[str]]) -> None:
    """Runs one step's executor on its repaired ExecutorInput, then maps the reported output URIs back."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    from retrain.components.compat.beam_private import use_hardware_crc32c

    use_hardware_crc32c()
    register_artifact_types()
    register_text_ops()
    args, beam_args = parsed
    step = prepare_step(args.json_serialized_invocation_args, getattr(args, "json_serialized_inputs_spec_args", None))
    args.json_serialized_invocation_args = step.invocation_json
    _make_output_dirs(step.invocation_json)
    kubeflow_v2_run_executor.main((args, beam_args))
    with open(step.output_file) as reported:
        executor_output = json_format.Parse(reported.read(), pipeline_spec_pb2.ExecutorOutput(), ignore_unknown_fields=True)
    restore_output_uris(executor_output, step.uris_by_mirror_path)
    with open(step.output_file, "w") as rewritten:
        rewritten.write(json_format.MessageToJson(executor_output))


def run_step(args: Sequence[str]) -> None:
    """Runs one step's executor in this process; `args` as the compiled container passes them."""
    run_parsed(parse_kubeflow_v2_executor_flags(args))


def main() -> None:
    """The container command: what `python -m ...kubeflow_v2_run_executor` does, on the repaired ExecutorInput."""
    from absl import app

    app.run(run_parsed, flags_parser=parse_kubeflow_v2_executor_flags)


if __name__ == "__main__":
    main()
