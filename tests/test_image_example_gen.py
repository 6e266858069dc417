"""ImageFolderExampleGen: pure classification/manifest/threshold logic, and real runs in tiny local pipelines."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import retrain.components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_digits
from tfx import v1 as tfx

from retrain.components.image_example_gen.component import ImageFolderExampleGen
from retrain.components.image_example_gen.framing import tfrecord_frame
from retrain.components.image_example_gen.gzip_sink import write_framed_records
from retrain.components.image_example_gen.records import (
    ImageItem,
    InvalidImage,
    ManifestError,
    Rejection,
    classify,
    folder_item,
    checked_image,
    parse_manifest,
)
from retrain.components.image_example_gen.report import SplitCounts, TooManyRejections, check_rejections
from retrain.components.image_example_gen.settings import IngestSettings
from image_example_gen_runs import artifacts, examples_artifacts, property_of, read_split, rejections, run, split_contents, split_counts

FORMATS = ("PNG", "JPEG", "GIF", "BMP")
_DIGITS = load_digits()


def _image(index: int, fmt: str = "PNG", size: int = 16) -> bytes:
    pixels = (_DIGITS.images[index % len(_DIGITS.images)] * 15).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((size, size)).save(buffer, format=fmt)
    return buffer.getvalue()


def _truncated(index: int, fmt: str) -> bytes:
    data = _image(index, fmt)
    return data[: len(data) // 2]


def _corrupted_png(index: int) -> bytes:
    data = _image(index, "PNG")
    middle = len(data) // 2
    return data[:middle] + bytes(byte ^ 0x5A for byte in data[middle : middle + 16]) + data[middle + 16 :]


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _write_digits(root: Path, count: int, start: int = 0) -> dict[str, bytes]:
    """`count` images as `<root>/digit<N>/img<i>.<ext>`, cycling through the formats; returns path -> bytes."""
    written = {}
    for i in range(start, start + count):
        fmt = FORMATS[i % len(FORMATS)]
        relative = f"digit{_DIGITS.target[i]}/img{i}.{fmt.lower()}"
        written[relative] = _write(root / relative, _image(i, fmt)).read_bytes()
    return written


# --- pure functions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_accepted_formats_are_accepted_unchanged(fmt: str) -> None:
    data = _image(3, fmt)
    assert checked_image(data) == data  # upright, opaque images keep their bytes


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (_truncated(1, "PNG"), "cannot decode PNG image (image file is truncated)"),
        (_truncated(1, "JPEG"), "cannot decode JPEG image ("),
        (_truncated(1, "GIF"), "cannot decode GIF image (unreadable header)"),
        (_truncated(1, "BMP"), "cannot decode BMP image (image file is truncated"),
        (_corrupted_png(1), "cannot decode PNG image ("),
        (b"label,path\nnot,an image\n", "not an image (unrecognised content)"),
        (_image(1, "TIFF"), "unsupported image format TIFF (accepted: BMP, GIF, JPEG, PNG)"),
    ],
    ids=["empty", "truncated-png", "truncated-jpeg", "truncated-gif", "truncated-bmp", "corrupt-png", "text", "tiff"],
)
def test_each_rejection_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage) as raised:
        checked_image(data)
    assert str(raised.value).startswith(reason)
    outcome = classify(data, ImageItem(uri="/x/cat/a.png", path="cat/a.png", label="cat"), IngestSettings())
    assert outcome == Rejection("cat/a.png", str(raised.value))


def test_example_holds_the_encoded_bytes_label_and_path() -> None:
    data = _image(5, "JPEG")
    settings = IngestSettings(image_feature="jpeg", label_feature="class", path_feature="source")
    example = classify(data, ImageItem(uri="/in/cat/a.png", path="cat/a.png", label="cat"), settings)
    assert isinstance(example, tf.train.Example)
    feature = example.features.feature
    assert set(feature) == {"jpeg", "class", "source"}
    assert feature["jpeg"].bytes_list.value == [data]
    assert feature["class"].bytes_list.value == [b"cat"]
    assert feature["source"].bytes_list.value == [b"cat/a.png"]


def test_folder_label_is_the_parent_directory() -> None:
    assert folder_item("/in/train/cat/a.png", "/in/") == ImageItem("/in/train/cat/a.png", "train/cat/a.png", "cat")
    assert folder_item("/in/a.png", "/in") == Rejection("a.png", "no label: the file is not inside a label folder")


def test_manifest_rows_become_items_or_rejections() -> None:
    text = "path,label\ncat/a.png,cat\n\n../shared/b.png, dog \n,cat\ncat/c.png,\n"
    outcomes = list(parse_manifest(text, "/in/lists/train.csv", "/in"))
    assert outcomes == [
        ImageItem("/in/lists/cat/a.png", "lists/cat/a.png", "cat"),
        ImageItem("/in/shared/b.png", "shared/b.png", "dog"),
        Rejection("lists/train.csv line 5", "manifest row has no path"),
        Rejection("lists/cat/c.png", "manifest row has no label (lists/train.csv line 6)"),
    ]
    with pytest.raises(ManifestError, match="lists/train.csv: header must have the columns path,label"):
        list(parse_manifest("file,class\na.png,cat\n", "/in/lists/train.csv", "/in"))


def test_rejection_threshold() -> None:
    bad = Rejection("cat/broken.jpg", "cannot decode image (x)")
    assert check_rejections({"train": SplitCounts(10, 0), "eval": SplitCounts(5, 0)}, 0.0) is None
    assert check_rejections({"single_split": SplitCounts(99, 1, bad)}, 0.01) == (
        "ImageFolderExampleGen: 1 of 100 files rejected (1.0% <= 1.0% allowed); e.g. cat/broken.jpg: cannot decode image (x)"
    )
    with pytest.raises(TooManyRejections) as raised:
        check_rejections({"train": SplitCounts(80, 10, bad), "eval": SplitCounts(8, 2, None)}, 0.01)
    assert str(raised.value) == (
        "ImageFolderExampleGen: 12 of 100 files rejected (12.0% > 1.0% allowed); e.g. cat/broken.jpg: cannot decode image (x)"
    )
    with pytest.raises(TooManyRejections, match=r"^ImageFolderExampleGen: no image accepted \(2 of 2 files rejected\)"):
        check_rejections({"train": SplitCounts(0, 2, bad)}, 1.0)


def test_settings_travel_in_custom_config() -> None:
    options = dict(label_feature="class", max_rejected_fraction=0.25, read_threads=3, allowed_roots=("/shared",), max_image_pixels=1000)
    settings = IngestSettings(layout="manifest", **options)
    component = ImageFolderExampleGen("/in", layout="manifest", **options)
    travelled = IngestSettings.from_exec_property(component.exec_properties["custom_config"])
    assert travelled == settings and isinstance(travelled.read_threads, int) and travelled.worker_threads() == 3
    assert isinstance(travelled.max_image_pixels, int) and travelled.allowed_roots == ("/shared",)
    assert '"pattern": "*.csv"' in component.exec_properties["input_config"]
    with pytest.raises(ValueError, match="layout must be one of folders, manifest"):
        ImageFolderExampleGen("/in", layout="zip")
    with pytest.raises(ValueError, match="max_rejected_fraction"):
        IngestSettings(max_rejected_fraction=1.5)
    with pytest.raises(ValueError, match="distinct"):
        IngestSettings(label_feature="image")
    with pytest.raises(ValueError, match="read_threads must be a whole number >= 0"):
        IngestSettings(read_threads=-1)
    with pytest.raises(ValueError, match="max_image_pixels must be a whole number >= 1"):
        IngestSettings(max_image_pixels=0)


def test_framed_batches_are_written_as_gzip_tfrecord_shards_that_tensorflow_and_beam_read(tmp_path: Path) -> None:
    records = [b"", b"x", _image(1, "PNG"), _image(2, "JPEG") * 3]
    with tf.io.TFRecordWriter(str(tmp_path / "reference.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    assert b"".join(map(tfrecord_frame, records)) == (tmp_path / "reference.tfrecord").read_bytes()

    batches = [b"".join(map(tfrecord_frame, batch)) for batch in (records[:1], records[1:3], records[3:])]
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(batches) | write_framed_records(str(tmp_path / "Split-train"))
    shards = sorted((tmp_path / "Split-train").glob("data_tfrecord-*.gz"))
    assert shards, "the sink wrote no shard"
    for shard in shards:
        assert gzip.decompress(shard.read_bytes())  # each shard is one gzip stream (a valid GZIP file)
    from_tf = [r.numpy() for r in tf.data.TFRecordDataset([str(shard) for shard in shards], compression_type="GZIP")]
    with beam.Pipeline() as pipeline:
        from_beam = pipeline | beam.io.ReadFromTFRecord(str(tmp_path / "Split-train" / "*.gz"))
        _ = from_beam | beam.combiners.ToList() | beam.Map(lambda read: (tmp_path / "from_beam").write_bytes(b"|".join(sorted(read))))
    assert sorted(from_tf) == sorted(records)
    assert (tmp_path / "from_beam").read_bytes() == b"|".join(sorted(records))


# --- real runs in a local TFX pipeline ---------------------------------------------------------------------------


def _num_examples(statistics_uri: str, split: str) -> int:
    import tensorflow_data_validation as tfdv

    statistics = tfdv.load_stats_binary(str(Path(statistics_uri, f"Split-{split}", "FeatureStats.pb")))
    return statistics.datasets[0].num_examples


def _label(path: str) -> str:
    return path.split("/")[-2]


def test_folders_with_hash_split_feed_statistics_gen_and_rerun_from_cache(tmp_path: Path) -> None:
    images = _write_digits(tmp_path / "data", 40)
    example_gen = ImageFolderExampleGen(str(tmp_path / "data"))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    run(tmp_path, example_gen, statistics_gen)

    [artifact] = examples_artifacts(tmp_path)
    train, evaluation = split_contents(artifact.uri, "train"), split_contents(artifact.uri, "eval")
    assert train and evaluation and not set(train) & set(evaluation)
    assert {**train, **evaluation} == {path: (_label(path), data) for path, data in images.items()}
    assert (property_of(artifact, "accepted_count"), property_of(artifact, "rejected_count")) == (40, 0)
    assert split_counts(artifact.uri, "single_split") == SplitCounts(40, 0)
    assert rejections(artifact.uri, "single_split") == []
    for split, examples in (("train", read_split(artifact.uri, "train")), ("eval", read_split(artifact.uri, "eval"))):
        for example in examples:  # TFX's stock hash split: sha256 of the serialized example, buckets train 2 : eval 1
            bucket = int(hashlib.sha256(example.SerializeToString(deterministic=True)).hexdigest(), 16) % 3
            assert ("train" if bucket < 2 else "eval") == split
    [statistics] = artifacts(tmp_path, "ExampleStatistics")  # read back through Beam's GZIP TFRecord reader
    assert sum(_num_examples(statistics.uri, split) for split in ("train", "eval")) == 40

    run(tmp_path, ImageFolderExampleGen(str(tmp_path / "data")))
    assert len(examples_artifacts(tmp_path)) == 1  # unchanged input: served from the cache


def test_predefined_train_and_eval_splits(tmp_path: Path) -> None:
    train = _write_digits(tmp_path / "data" / "train", 12)
    evaluation = _write_digits(tmp_path / "data" / "eval", 6, start=100)
    splits = tfx.proto.Input(
        splits=[
            tfx.proto.Input.Split(name="train", pattern="train/*/*"),
            tfx.proto.Input.Split(name="eval", pattern="eval/*/*"),
        ]
    )
    run(tmp_path, ImageFolderExampleGen(str(tmp_path / "data"), input_config=splits))

    [artifact] = examples_artifacts(tmp_path)
    assert split_contents(artifact.uri, "train") == {f"train/{p}": (_label(p), data) for p, data in train.items()}
    assert split_contents(artifact.uri, "eval") == {f"eval/{p}": (_label(p), data) for p, data in evaluation.items()}
    assert (split_counts(artifact.uri, "train"), split_counts(artifact.uri, "eval")) == (SplitCounts(12, 0), SplitCounts(6, 0))


def test_manifest_layout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    images = _write_digits(data / "images", 8)
    paths = sorted(images)
    (data / "lists").mkdir()
    rows = [f"../images/{path},{_label(path)}" for path in paths[:6]]
    (data / "lists" / "train.csv").write_text("path,label\n" + "\n".join(rows + ["../images/gone.png,digit1", "../images/x.png,"]))
    (data / "lists" / "eval.csv").write_text("path,label\n" + "\n".join(f"../images/{p},{_label(p)}" for p in paths[6:]))
    splits = tfx.proto.Input(
        splits=[
            tfx.proto.Input.Split(name="train", pattern="lists/train.csv"),
            tfx.proto.Input.Split(name="eval", pattern="lists/eval.csv"),
        ]
    )
    run(tmp_path, ImageFolderExampleGen(str(data), layout="manifest", input_config=splits, max_rejected_fraction=0.25))

    [artifact] = examples_artifacts(tmp_path)
    expected = {f"images/{path}": (_label(path), images[path]) for path in paths}
    assert split_contents(artifact.uri, "train") == {p: v for p, v in expected.items() if p[len("images/") :] in paths[:6]}
    assert split_contents(artifact.uri, "eval") == {p: v for p, v in expected.items() if p[len("images/") :] in paths[6:]}
    assert rejections(artifact.uri, "train") == [
        Rejection("images/gone.png", "file not found"),
        Rejection("images/x.png", "manifest row has no label (lists/train.csv line 9)"),
    ]
    assert (property_of(artifact, "accepted_count"), property_of(artifact, "rejected_count")) == (8, 2)


def _write_bad_files(root: Path) -> dict[str, str]:
    """Four bad inputs beside good ones; returns path -> expected start of the rejection reason."""
    _write(root / "digit1" / "empty.png", b"")
    _write(root / "digit2" / "broken.jpg", _truncated(2, "JPEG"))
    _write(root / "digit3" / "notes.png", b"not an image at all")
    _write(root / "digit4" / "scan.tif", _image(4, "TIFF"))
    return {
        "digit1/empty.png": "empty file",
        "digit2/broken.jpg": "cannot decode JPEG image (",
        "digit3/notes.png": "not an image (unrecognised content)",
        "digit4/scan.tif": "unsupported image format TIFF",
    }


def test_bad_files_below_the_threshold_are_reported_and_the_run_succeeds(tmp_path: Path) -> None:
    good = _write_digits(tmp_path / "data", 96)
    bad = _write_bad_files(tmp_path / "data")
    (tmp_path / "data" / "digit5" / "nested").mkdir()
    bad["digit5/nested"] = "is a directory, not a file"
    run(tmp_path, ImageFolderExampleGen(str(tmp_path / "data"), max_rejected_fraction=0.05, read_threads=3))

    [artifact] = examples_artifacts(tmp_path)
    written = {**split_contents(artifact.uri, "train"), **split_contents(artifact.uri, "eval")}
    assert set(written) == set(good)
    rejected = rejections(artifact.uri, "single_split")
    assert [r.path for r in rejected] == sorted(bad)
    assert all(r.reason.startswith(bad[r.path]) for r in rejected)
    assert split_counts(artifact.uri, "single_split").accepted == 96
    assert (property_of(artifact, "accepted_count"), property_of(artifact, "rejected_count")) == (96, 5)


def test_too_many_bad_files_fail_the_run_with_one_line(tmp_path: Path) -> None:
    _write_digits(tmp_path / "data", 96)
    _write_bad_files(tmp_path / "data")
    with pytest.raises(TooManyRejections) as raised:
        run(tmp_path, ImageFolderExampleGen(str(tmp_path / "data")))
    message = str(raised.value)
    assert message == ("ImageFolderExampleGen: 4 of 100 files rejected (4.0% > 1.0% allowed); e.g. digit1/empty.png: empty file")
    assert "\n" not in message
