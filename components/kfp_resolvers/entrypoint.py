"""Container entrypoint of every compiled step: TFX's Kubeflow V2 executor runner, plus retrain's artifact types.

TFX's runner finds a custom artifact class by importing its type name as a
Python path (`retrain.LabelMap` -> module `retrain`, class `LabelMap`), and KFP
schema titles allow a single dot, so the type name cannot be the real module
path. This entrypoint registers a `retrain` module holding the custom types, and
tensorflow_text's ops (which converted text Hub modules and the models built on
them need to load), before handing over to the runner.

    python -m components.kfp_resolvers.entrypoint --executor_class_path ... --json_serialized_invocation_args ...
"""
from __future__ import annotations

import sys
import types as python_types
from typing import Sequence

from tfx.types.artifact import Artifact

from components.label_prep.artifact import LabelMap

CUSTOM_ARTIFACT_TYPES: tuple[type[Artifact], ...] = (LabelMap,)  # add new `retrain.*` artifact types here
COMMAND = ("python", "-m", "components.kfp_resolvers.entrypoint")


def register_artifact_types() -> None:
    """Makes each custom type importable by its TYPE_NAME (`retrain.LabelMap`)."""
    for artifact_type in CUSTOM_ARTIFACT_TYPES:
        module_name, class_name = artifact_type.TYPE_NAME.split(".")
        module = sys.modules.setdefault(module_name, python_types.ModuleType(module_name, "retrain's custom TFX artifact types"))
        setattr(module, class_name, artifact_type)


def register_text_ops() -> None:
    """Registers tensorflow_text's WordPiece ops, used by text backbones from `retrain export-hub-text`."""
    import tensorflow_text  # noqa: F401


def run_step(args: Sequence[str]) -> None:
    """Runs one step's executor in this process; `args` as the compiled container passes them."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    register_artifact_types()
    register_text_ops()
    kubeflow_v2_run_executor.main(kubeflow_v2_run_executor._parse_flags(list(args)))  # noqa: SLF001  (TFX's own parser)


def main() -> None:
    """The container command: what `python -m ...kubeflow_v2_run_executor` does, with the types registered."""
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    register_artifact_types()
    register_text_ops()
    app.run(kubeflow_v2_run_executor.main, flags_parser=kubeflow_v2_run_executor._parse_flags)  # noqa: SLF001


if __name__ == "__main__":
    main()
