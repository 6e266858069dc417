"""Contracts of the private TFX / TensorFlow / TFMA symbols behind retrain.components.compat, one test each.

A failure here after an upgrade names the symbol whose shape or behaviour changed;
adapt its function in components/compat/ (its docstring names the upstream file).
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow.python.autograph.core import config as autograph_config
from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as tfma_metrics_pb2
from tensorflow_model_analysis.writers import eval_config_writer
from tfx import v1 as tfx
from tfx.proto import example_gen_pb2

from retrain.components.compat.beam_private import beam_crc32c_function, use_hardware_crc32c
from retrain.components.compat.tf_private import skip_autograph_conversion
from retrain.components.compat.tfma_files import metrics_for_slice_pb2
from retrain.components.compat.tfma_private import serialize_eval_run
from retrain.components.compat.tfx_private import (
    example_gen_partition,
    parse_kubeflow_v2_executor_flags,
    span_glob_and_regex,
    span_of_path,
)


REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("pipelines", "components", "benchmarks", "tests", "tools")  # folders
PROJECT_MODULES = ("retrain", "benchmarks", "tools")  # top-level names of the project's own imports
SEAM = (REPO_ROOT / "components" / "compat", Path(__file__).resolve())


def _private_third_party_imports(path: Path) -> list[str]:
    """`from LIB import _name` and `tensorflow.python` imports of LIB outside the project, as `path:line: module.name`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [alias.name for alias in node.names]
            modules = [node.module]
        elif isinstance(node, ast.Import):
            names, modules = [], [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module.split(".")[0] in PROJECT_MODULES:
                continue
            private = [name for name in names if name.startswith("_") and not name.startswith("__")]
            if module == "tensorflow.python" or module.startswith("tensorflow.python.") or private:
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {module} {' '.join(private)}".rstrip())
    return found


def test_private_third_party_imports_live_only_in_the_compat_package() -> None:
    """The import half of the seam (attribute access like `module._name` is ruff's SLF001, see test_lint.py)."""
    files = [path for package in PROJECT_PACKAGES for path in (REPO_ROOT / package).rglob("*.py")]
    outside = [path for path in files if not any(path == seam or seam in path.parents for seam in SEAM)]
    assert [finding for path in outside for finding in _private_third_party_imports(path)] == []
    assert _private_third_party_imports(REPO_ROOT / "components" / "compat" / "tfx_private.py"), "the check sees `_PartitionFn`"


def _split_config(**fields: str) -> example_gen_pb2.SplitConfig:
    splits = [example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3), example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]
    return example_gen_pb2.SplitConfig(splits=splits, **fields)


def _expected_split(key: bytes, buckets: list[int]) -> int:
    return bisect.bisect(buckets, int(hashlib.sha256(key).hexdigest(), 16) % buckets[-1])


def test_partition_fn_splits_by_sha256_of_the_record_or_of_the_partition_feature() -> None:
    buckets = [3, 4]
    records = [f"record-{index}".encode() for index in range(40)]
    splits = [example_gen_partition(record, buckets, _split_config()) for record in records]
    assert splits == [_expected_split(record, buckets) for record in records]
    assert set(splits) == {0, 1}, "40 records should reach both splits"

    by_user = _split_config(partition_feature_name="user")
    for user in (b"ann", b"bob", b"cy", b"dee", b"eve"):
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[user]))
        example = tf.train.Example(features=tf.train.Features(feature={"user": feature, "other": feature}))
        assert example_gen_partition(example, buckets, by_user) == _expected_split(feature.SerializeToString(deterministic=True), buckets)


def test_span_glob_and_regex_match_files_and_read_their_spans(tmp_path: Path) -> None:
    for span in (3, 12):
        (tmp_path / f"span-{span}").mkdir()
        (tmp_path / f"span-{span}" / "data.csv").write_text("x\n")
    (tmp_path / "notes.txt").write_text("not a span\n")
    split = example_gen_pb2.Input.Split(name="all", pattern="span-{SPAN}/*.csv")

    glob, regex = span_glob_and_regex(str(tmp_path), split, True, False, False)
    paths = sorted(tfx.dsl.io.fileio.glob(glob))
    assert paths == [str(tmp_path / "span-12" / "data.csv"), str(tmp_path / "span-3" / "data.csv")]
    assert sorted(span_of_path(path, regex, True, False, False) for path in paths) == [3, 12]


def test_kubeflow_v2_executor_flag_parser_keeps_unknown_flags_for_beam() -> None:
    args, beam_args = parse_kubeflow_v2_executor_flags(
        ["--executor_class_path", "pkg.module.Executor", "--json_serialized_invocation_args", "{}", "--runner=DirectRunner"]
    )
    assert (args.executor_class_path, args.json_serialized_invocation_args) == ("pkg.module.Executor", "{}")
    assert beam_args == ["--runner=DirectRunner"]
    with pytest.raises(SystemExit):
        parse_kubeflow_v2_executor_flags(["--executor_class_path", "pkg.module.Executor"])  # the invocation args are required


def test_metrics_proto_loads_without_tfma_and_matches_tfmas_own() -> None:
    probe = (
        "import sys; from retrain.components.compat.tfma_files import metrics_for_slice_pb2 as load; m = load().MetricsForSlice; "
        "print(m.DESCRIPTOR.full_name, sorted(f.name for f in m.DESCRIPTOR.fields)); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'tensorflow_model_analysis')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    descriptor, imported = result.stdout.splitlines()
    tfmas = tfma_metrics_pb2.MetricsForSlice.DESCRIPTOR
    assert descriptor == f"{tfmas.full_name} {sorted(f.name for f in tfmas.fields)}"
    assert imported == "[]"
    assert metrics_for_slice_pb2() is tfma_metrics_pb2  # TFMA's own module once TFMA is imported


def test_serialized_eval_run_reads_back_with_tfmas_loader(tmp_path: Path) -> None:
    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(name="candidate", label_key="label", prediction_key="p")])
    text = serialize_eval_run(config, "/data/predictions", "tfrecords", {"candidate": "/models/c"})
    (tmp_path / f"{eval_config_writer.EVAL_CONFIG_FILE}.{eval_config_writer.EVAL_CONFIG_FILE_FORMAT}").write_text(text)
    loaded_config, data_location, file_format, model_locations = eval_config_writer.load_eval_run(str(tmp_path))
    assert (loaded_config, data_location, file_format, dict(model_locations)) == (
        config,
        "/data/predictions",
        "tfrecords",
        {"candidate": "/models/c"},
    )


_PROBE_MODULE = "retrain_compat_autograph_probe"


def test_skip_autograph_conversion_calls_the_module_unconverted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autograph_config, "CONVERSION_RULES", autograph_config.CONVERSION_RULES)  # restored afterwards
    source = tmp_path / f"{_PROBE_MODULE}.py"
    source.write_text("def magnitude(x):\n    if x > 0:\n        return x\n    return -x\n")
    spec = importlib.util.spec_from_file_location(_PROBE_MODULE, source)
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, _PROBE_MODULE, probe)
    spec.loader.exec_module(probe)

    def call(x: tf.Tensor) -> tf.Tensor:
        return probe.magnitude(x)

    assert float(tf.function(call)(tf.constant(-2.0))) == 2.0, "converted: the Python `if` on a tensor becomes tf.cond"
    rules = len(autograph_config.CONVERSION_RULES)
    skip_autograph_conversion(_PROBE_MODULE)
    skip_autograph_conversion(_PROBE_MODULE)
    assert len(autograph_config.CONVERSION_RULES) == rules + 1, "the rule is added once"
    with pytest.raises(TypeError, match="bool"):  # unconverted: a graph tensor used as a Python bool
        tf.function(call)(tf.constant(-2.0))


def test_use_hardware_crc32c_makes_beams_tfrecord_coder_checksum_with_google_crc32c(tmp_path: Path) -> None:
    import apache_beam as beam
    import google_crc32c

    records = [b"", b"a", bytes(range(256)) * 100]
    with tf.io.TFRecordWriter(str(tmp_path / "reference.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    use_hardware_crc32c()
    assert beam_crc32c_function() is google_crc32c.value
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(records) | beam.io.WriteToTFRecord(str(tmp_path / "beam"), shard_name_template="")
    assert (tmp_path / "beam").read_bytes() == (tmp_path / "reference.tfrecord").read_bytes(), "the same checksums as TensorFlow's"
    with beam.Pipeline() as pipeline:
        read = pipeline | beam.io.ReadFromTFRecord(str(tmp_path / "reference.tfrecord"))
        _ = read | beam.combiners.ToList() | beam.Map(lambda got: (tmp_path / "read").write_bytes(b"|".join(got)))
    assert (tmp_path / "read").read_bytes() == b"|".join(records)


def _imported_after(statement: str) -> str:
    """repr of sys.modules.get('rfc3987_syntax') after `statement` and `import jsonschema` in a fresh interpreter."""
    probe = f"import sys\n{statement}\nimport jsonschema\nprint(repr(sys.modules.get('rfc3987_syntax', 'absent')))"
    completed = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120)
    return completed.stdout.strip().splitlines()[-1]


def test_skip_optional_imports_keeps_jsonschema_from_building_rfc3987_parsers() -> None:
    # jsonschema imports rfc3987_syntax (seconds of Lark parser building) unless blocked; remove the block when it no longer does.
    assert _imported_after("pass").startswith("<module 'rfc3987_syntax'")
    assert _imported_after("import retrain.pipelines") == "None"
    import jsonschema

    assert "iri" not in jsonschema.FormatChecker().checkers  # jsonschema took the block as "not installed"
