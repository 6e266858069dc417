"""The branch registry (components/branches.py) is the one home of the framework names, and it describes the real pipeline."""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from retrain.components.branches import ALL_BRANCHES, BRANCHES, ORIGINAL, PYTORCH, TENSORFLOW, TRAINER_CHOICES, branches_for
from retrain.pipelines.config import RetrainConfig, config_from_dict
from retrain.pipelines.run_summary import ModelVerdict, format_summary, shown_verdicts, summarize_steps

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "components" / "branches.py"
FRAMEWORK_LITERALS = frozenset({*(b.framework for b in BRANCHES), *(b.trainer_choice for b in BRANCHES), ALL_BRANCHES})


def _exempt(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """The same words naming something else: a library's logger, Keras' SavedModel `save_format`."""
    parent = parents.get(node)
    if isinstance(parent, ast.keyword) and parent.arg == "save_format":
        return True
    if isinstance(parent, ast.Call) and getattr(parent.func, "attr", getattr(parent.func, "id", None)) == "getLogger":
        return True
    grandparent = parents.get(parent) if parent is not None else None
    return (
        isinstance(parent, ast.Tuple)
        and isinstance(grandparent, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id.endswith("LOGGERS") for target in grandparent.targets)
    )


def framework_literals(source: str) -> list[tuple[int, str]]:
    """(line, literal) of each string constant that is a framework name or `trainer` choice."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in FRAMEWORK_LITERALS and not _exempt(node, parents)
    ]


def test_the_scan_finds_a_framework_literal_and_spares_logger_names() -> None:
    source = 'import logging\nif trainer == "torch":\n    logging.getLogger("tensorflow")\n_NOISY_LOGGERS = ("tensorflow",)\nx = {"pytorch": 1}\n'
    assert framework_literals(source) == [(2, "torch"), (5, "pytorch")]


def test_no_framework_name_literal_lives_outside_the_registry() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for package in ("pipelines", "components")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != REGISTRY
        for line, value in framework_literals(path.read_text())
    ]
    assert not found, "framework names belong in components/branches.py:\n" + "\n".join(found)
    assert framework_literals(REGISTRY.read_text())  # the registry itself spells them


def test_the_config_trainer_choices_come_from_the_registry() -> None:
    field = RetrainConfig.model_fields["trainer"]
    assert typing.get_args(field.annotation) == TRAINER_CHOICES == ("tf", "torch", "both")
    assert field.default == ORIGINAL.trainer_choice
    assert [branches_for(choice) for choice in TRAINER_CHOICES] == [(BRANCHES[0],), (BRANCHES[1],), BRANCHES]
    with pytest.raises(ValueError, match="trainer: unknown choice 'jax': use one of tf, torch, both"):
        branches_for("jax")


def test_the_registry_is_consistent() -> None:
    assert [branch.framework for branch in BRANCHES] == [TENSORFLOW, PYTORCH]
    assert BRANCHES[0] is ORIGINAL and [branch.original for branch in BRANCHES].count(True) == 1
    assert all(branch.warm_start_resolver_id for branch in BRANCHES[1:])  # the pipeline needs one for every branch after the first
    ids = [i for b in BRANCHES for i in (b.trainer_id, b.evaluator_id, b.pusher_id, b.baseline_resolver_id, b.warm_start_resolver_id) if i]
    assert len(ids) == len(set(ids))
    assert len({branch.serving_suffix for branch in BRANCHES}) == len(BRANCHES)


def test_the_registry_names_the_nodes_the_pipeline_builds(tmp_path: Path) -> None:
    from retrain.pipelines.paths import resolve_run_paths
    from retrain.pipelines.pipeline import create_pipeline

    backbone = {"handle": str(tmp_path / "backbone"), "torch_checkpoint": str(tmp_path / "backbone.pt")}
    raw = {"data": {"path": str(tmp_path)}, "backbone": backbone, "training": {"validation_fraction": 0.2}, "tuning": {"enabled": True}}
    config = config_from_dict({**raw, "trainer": ALL_BRANCHES}, tmp_path)
    paths = resolve_run_paths(config, tmp_path)
    nodes = {node.id: node for node in create_pipeline(config, paths).components}
    for branch in BRANCHES:
        trainer, evaluator, pusher = nodes[branch.trainer_id], nodes[branch.evaluator_id], nodes[branch.pusher_id]
        assert trainer.type == branch.trainer_type
        assert branch.trainer_class in {klass.__name__ for klass in type(trainer).__mro__}
        assert {type(trainer).__name__, type(evaluator).__name__} < set(branch.step_classes) <= {type(node).__name__ for node in nodes.values()}
        assert branch.baseline_resolver_id in nodes
        destination = json.loads(pusher.exec_properties["push_destination"])  # the PushDestination proto as JSON
        assert destination["filesystem"]["base_directory"] == str(paths.serving_dir) + branch.serving_suffix
    assert {b.warm_start_resolver_id for b in BRANCHES[1:]} <= set(nodes)


def _artifact(type_name: str, **properties: object) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact(type=type_name)
    for name, value in properties.items():
        if isinstance(value, str):
            artifact.custom_properties[name].string_value = value
        else:
            artifact.custom_properties[name].int_value = int(value)  # type: ignore[call-overload]
    return artifact


def _execution(state: int) -> metadata_store_pb2.Execution:
    return metadata_store_pb2.Execution(last_known_state=state)


def test_each_branch_nodes_feed_their_framework_verdict() -> None:
    complete, cached = metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED
    steps = [
        ("ExampleGen", _execution(complete), []),
        ("TorchTrainer", _execution(complete), [_artifact("Model")]),
        ("TorchEvaluator", _execution(complete), [_artifact("ModelBlessing", blessed=1)]),
        (
            "TorchPusher",
            _execution(cached),
            [_artifact("PushedModel", pushed=1, push_outcome="pushed", pushed_destination="/s/m-torch/3", pushed_version="3")],
        ),
    ]
    summary = summarize_steps(steps, brief=True)
    assert list(summary.verdicts) == [PYTORCH]
    [(branch, verdict)] = shown_verdicts(summary)
    assert branch.framework == PYTORCH and verdict.blessed and verdict.push_reused
    assert format_summary(summary).splitlines() == [
        "PyTorch model:",
        "  blessed: yes",
        "  nothing new pushed: inputs unchanged since the run that pushed version 3; serving /s/m-torch/3",
    ]
    assert shown_verdicts(summarize_steps(steps[:1])) == [(ORIGINAL, ModelVerdict())]  # no branch ran: the original's empty verdict
