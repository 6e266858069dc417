"""The report's verdict box covers each trained framework and words it as the `retrain run` summary does."""

from __future__ import annotations

from lxml import etree

from retrain.pipelines.report.collect import RunReport, Step
from retrain.pipelines.report.data import DataReport
from retrain.pipelines.report.render import render_report
from retrain.pipelines.report.runs import RunRef
from retrain.components.branches import PYTORCH, TENSORFLOW
from retrain.pipelines.run_summary import ModelVerdict, RunSummary, format_summary

TF_PUSH = "/out/serving/digits/2"
TORCH_FAILURE = "sparse_categorical_accuracy changed by -0.2500 vs. the baseline; the gate allows at least -0.0000"


def _both() -> RunSummary:
    """`trainer: both`: the TF model blessed and pushed, the PyTorch one rejected by its gate."""
    torch = ModelVerdict(
        accuracy=0.55,
        baseline_accuracy=0.8,
        min_accuracy=0.5,
        blessed=False,
        validation_failures=[TORCH_FAILURE],
        push_outcome="not blessed by the Evaluator",
    )
    tf = ModelVerdict(
        accuracy=0.875,
        baseline_accuracy=0.85,
        min_accuracy=0.5,
        blessed=True,
        pushed=True,
        push_path=TF_PUSH,
        push_version="2",
        push_outcome="pushed",
    )
    return RunSummary(verdicts={PYTORCH: torch, TENSORFLOW: tf})  # shown in the registry's order, whatever the dict's


def _torch_only() -> RunSummary:
    torch = ModelVerdict(
        accuracy=0.9,
        min_accuracy=0.7,
        blessed=True,
        pushed=True,
        push_path="/out/serving/digits-torch/1",
        push_version="1",
        push_outcome="pushed",
    )
    return RunSummary(verdicts={PYTORCH: torch})


def _render(summary: RunSummary, baselines: dict[str, str], steps: tuple[Step, ...] = ()) -> etree._Element:
    report = RunReport(
        ref=RunRef("digits", "run-1", context_id=1, created_ms=0),
        outcome="ok",
        summary=summary,
        steps=list(steps),
        trainers=[],
        evaluation=None,
        baselines=baselines,
        data=DataReport(),
    )
    return etree.fromstring(render_report(report).encode("utf-8"), etree.XMLParser(recover=False, no_network=True))


def _text(element: etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _facts(root: etree._Element, framework: str) -> dict[str, str]:
    [table] = root.xpath(f"//table[@id='verdict-facts-{framework}']")
    return {_text(row[0]): _text(row[1]) for row in table.xpath("./tbody/tr")}


def _summary_blocks(text: str) -> dict[str, list[str]]:
    """The run summary's `TensorFlow model:` / `PyTorch model:` blocks, their lines unindented."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.endswith(" model:"):
            current = blocks.setdefault(line[: -len(":")], [])
        elif line.startswith("  ") and current is not None:
            current.append(line[2:])
        else:
            current = None
    return blocks


def _report_lines(root: etree._Element, framework: str) -> list[str]:
    """The box's facts as summary lines (the baseline model is the report's own), gate failures after `blessed`."""
    lines = []
    for label, value in _facts(root, framework).items():
        if label != "baseline model":
            lines.append(f"{label}: {value}")
        if label == "blessed":
            lines += [f"  gate failed: {_text(item)}" for item in root.xpath(f"//ul[@id='gate-failures-{framework}']/li")]
    return lines


def test_both_frameworks_get_a_box_side_by_side_saying_what_the_summary_says() -> None:
    summary = _both()
    root = _render(summary, {"tensorflow": "model #3 from run r0, pushed as version 1", "pytorch": "model #4 from run r0, pushed as version 1"})
    boxes = root.xpath("//div[@class='verdicts']/div[@class='framework']")
    assert [box.get("id") for box in boxes] == ["verdict-tensorflow", "verdict-pytorch"]
    assert [_text(box.xpath("./h3")[0]) for box in boxes] == ["TensorFlow model", "PyTorch model"]

    assert _text(root.xpath("//p[@id='headline-tensorflow']")[0]) == f"Blessed and pushed as version 2 to {TF_PUSH}"
    assert _text(root.xpath("//p[@id='headline-pytorch']")[0]).startswith("Not blessed")
    assert _facts(root, "tensorflow") == {
        "eval accuracy": "0.8750 (baseline 0.8500), gate minimum 0.5000",
        "blessed": "yes",
        "pushed model": f"{TF_PUSH} (version 2)",
        "baseline model": "model #3 from run r0, pushed as version 1",
    }
    assert _facts(root, "pytorch") == {
        "eval accuracy": "0.5500 (baseline 0.8000), gate minimum 0.5000",
        "blessed": "no",
        "nothing pushed": "not blessed by the Evaluator",
        "baseline model": "model #4 from run r0, pushed as version 1",
    }
    assert not root.xpath("//ul[@id='gate-failures-tensorflow']")
    comparison = "eval accuracy, TensorFlow vs. PyTorch: 0.8750 vs. 0.5500 (-32.50 points)"
    assert _text(root.xpath("//p[@id='framework-comparison']")[0]) == comparison

    printed = format_summary(summary)
    blocks = _summary_blocks(printed)
    assert list(blocks) == ["TensorFlow model", "PyTorch model"]
    assert blocks["TensorFlow model"] == _report_lines(root, "tensorflow")
    assert blocks["PyTorch model"] == _report_lines(root, "pytorch")
    assert blocks["PyTorch model"][2] == f"  gate failed: {TORCH_FAILURE}"
    assert printed.splitlines()[-1] == comparison


def test_trainer_torch_shows_only_the_pytorch_model() -> None:
    summary = _torch_only()
    root = _render(summary, {})
    assert root.xpath("//div[@class='framework']/@id") == ["verdict-pytorch"]
    assert _text(root.xpath("//p[@id='headline-pytorch']")[0]) == "Blessed and pushed as version 1 to /out/serving/digits-torch/1"
    facts = _facts(root, "pytorch")
    assert facts["eval accuracy"] == "0.9000 (no baseline: no other blessed model yet), gate minimum 0.7000"
    assert facts["baseline model"] == "none (no other blessed model yet)"
    assert not root.xpath("//p[@id='framework-comparison']")
    assert _summary_blocks(format_summary(summary)) == {"PyTorch model": _report_lines(root, "pytorch")}


def test_a_run_that_failed_before_training_says_where() -> None:
    root = _render(RunSummary(), {}, (Step("ExampleGen", "failed", 1.0, "no files matched train/*.tfrecord"),))
    assert _text(root.xpath("//p[@id='run-failure']")[0]) == "The run failed at ExampleGen: no files matched train/*.tfrecord"
    assert _text(root.xpath("//p[@id='headline-tensorflow']")[0]) == "No verdict: the run did not reach the Evaluator"
    assert _facts(root, "tensorflow")["nothing pushed"] == "the Pusher did not run"
    assert format_summary(RunSummary()) == "nothing pushed: the Pusher did not run"
