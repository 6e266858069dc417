"""ImageFolderExampleGen reads nothing outside the data directory, caps pixels, and counts broken links as rejections."""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from pathlib import Path

import retrain.components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import pytest
from PIL import Image
from tfx.dsl.io import filesystem
from tfx.utils import io_utils

from retrain.components.image_example_gen.component import ImageFolderExampleGen
from retrain.components.image_example_gen.confinement import INODE_CHECKS, OUTSIDE_REASON, Confinement
from retrain.components.image_example_gen.driver import link_safe_fingerprint
from retrain.components.image_example_gen.records import InvalidImage, Rejection, checked_image
from image_example_gen_runs import examples_artifacts, property_of, rejections, run, split_contents


def _png(size: int = 16, value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def _with_header_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG made by Pillow whose IHDR claims `width` x `height` (CRC fixed): only the header is ever read."""
    header = data[12:16] + struct.pack(">II", width, height) + data[24:29]
    return data[:12] + header + struct.pack(">I", zlib.crc32(header)) + data[33:]


# --- pure functions ---------------------------------------------------------------------------------------------


def test_confinement_resolves_inside_and_refuses_outside(tmp_path: Path) -> None:
    data, outside, extra = tmp_path / "data", tmp_path / "outside", tmp_path / "extra"
    _write(data / "cat" / "a.png", b"x")
    _write(outside / "secret.png", b"x")
    _link(data / "cat" / "out.png", outside / "secret.png")
    _link(data / "cat" / "in.png", data / "cat" / "a.png")
    confinement = Confinement.of(str(data))
    assert confinement.resolve(str(data / "cat" / "a.png")) == os.path.realpath(data / "cat" / "a.png")
    assert confinement.resolve(str(data / "cat" / "in.png")) == os.path.realpath(data / "cat" / "a.png")
    assert confinement.resolve(str(data / "cat" / "missing.png")) is not None  # inside: read, then "file not found"
    for outside_path in (outside / "secret.png", data / "cat" / "out.png", data / ".." / "outside" / "secret.png", Path("/etc/passwd")):
        assert confinement.resolve(str(outside_path)) is None
    assert Confinement.of(str(data), [str(extra)]).resolve(str(data / ".." / "extra" / "b.png")) == os.path.realpath(extra / "b.png")
    remote = Confinement.of("gs://bucket/data")
    assert remote.resolve("gs://bucket/data/cat/a.png") == "gs://bucket/data/cat/a.png"
    assert remote.resolve("gs://bucket/data/../private/a.png") is None


@pytest.mark.skipif(not INODE_CHECKS, reason="needs O_PATH and /proc/self/fd (Linux)")
def test_read_local_reads_the_checked_inode_and_never_opens_outside(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    _write(data / "cat" / "a.png", b"inside")
    _link(data / "cat" / "in.png", data / "cat" / "a.png")
    _link(data / "cat" / "dangling_in.png", data / "cat" / "gone.png")
    _link(data / "cat" / "dangling_out.png", outside / "gone.png")
    outside.mkdir()
    os.mkfifo(outside / "pipe")  # opening it for reading would block until a writer came
    _link(data / "cat" / "pipe.png", outside / "pipe")
    confinement = Confinement.of(str(data))
    assert confinement.read_local(str(data / "cat" / "a.png")) == b"inside"
    assert confinement.read_local(str(data / "cat" / "in.png")) == b"inside"
    for refused in ("pipe.png", "dangling_out.png", "../../outside/pipe"):
        outcome: list = []
        path = str(data / "cat" / refused)
        reader = threading.Thread(target=lambda into, path: into.append(confinement.read_local(path)), args=(outcome, path), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert outcome == [None], refused
    with pytest.raises(FileNotFoundError):
        confinement.read_local(str(data / "cat" / "dangling_in.png"))
    with pytest.raises(IsADirectoryError):
        confinement.read_local(str(data / "cat"))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # ingestion silences it; pytest resets filters
def test_pixel_cap_rejects_from_the_header_without_decoding() -> None:
    with pytest.raises(InvalidImage, match=r"^too many pixels \(100x100 > data.max_image_pixels 4096\)$"):
        checked_image(_png(100), max_pixels=4096)
    assert checked_image(_png(64), max_pixels=4096)
    huge = _with_header_size(_png(8), 13000, 13000)  # 169 Mpx: Pillow only warns; decoding would need 169 MB
    with pytest.raises(InvalidImage, match=r"^too many pixels \(13000x13000 > data.max_image_pixels 50000000\)$"):
        checked_image(huge)
    bomb = _with_header_size(_png(8), 20000, 20000)  # over twice Pillow's limit: Pillow refuses before our check
    with pytest.raises(InvalidImage, match=r"^too many pixels \(Image size \(400000000 pixels\) exceeds limit"):
        checked_image(bomb, max_pixels=10**9)


def test_fingerprint_matches_tfx_and_survives_dangling_links(tmp_path: Path) -> None:
    _write(tmp_path / "cat" / "a.png", _png())
    _write(tmp_path / "dog" / "b.png", _png(32))
    pattern = str(tmp_path / "*" / "*")
    assert link_safe_fingerprint("train", pattern) == io_utils.generate_fingerprint("train", pattern)
    _link(tmp_path / "dog" / "gone.png", tmp_path / "nowhere.png")
    with pytest.raises(filesystem.NotFoundError):
        io_utils.generate_fingerprint("train", pattern)  # what crashed the driver
    assert "num_files:3," in link_safe_fingerprint("train", pattern)


def test_a_manifest_outside_or_dangling_is_refused_in_one_line(tmp_path: Path) -> None:
    from retrain.components.image_example_gen.executor import _matched_files
    from retrain.components.image_example_gen.records import ManifestError
    from retrain.components.image_example_gen.settings import IngestSettings

    manifests = IngestSettings(layout="manifest")
    _write(tmp_path / "outside.csv", b"path,label\n/etc/hostname,a\n")
    _link(tmp_path / "data" / "train.csv", tmp_path / "outside.csv")
    with pytest.raises(ManifestError, match=f"^manifest train.csv: {OUTSIDE_REASON}$"):
        _matched_files(str(tmp_path / "data"), "*.csv", manifests)
    (tmp_path / "data" / "train.csv").unlink()
    _link(tmp_path / "data" / "train.csv", tmp_path / "data" / "deleted.csv")
    with pytest.raises(ManifestError, match=r"^manifest train.csv: dangling symbolic link \(its target does not exist\)$"):
        _matched_files(str(tmp_path / "data"), "*.csv", manifests)


def test_a_manifest_swapped_after_the_driver_check_is_one_rejection(tmp_path: Path) -> None:
    from retrain.components.image_example_gen.executor import _ToItems

    data = tmp_path / "data"
    _write(data / "a.png", _png())
    _write(data / "train.csv", b"path,label\na.png,x\n")
    to_items = _ToItems("manifest", str(data), Confinement.of(str(data), ()))
    (item,) = to_items.process(str(data / "train.csv"))
    assert (item.path, item.label) == ("a.png", "x")
    _write(tmp_path / "outside.csv", b"path,label\n/etc/hostname,a\n")
    (data / "train.csv").unlink()
    _link(data / "train.csv", tmp_path / "outside.csv")  # replaced between the driver's check and the read
    (rejected,) = to_items.process(str(data / "train.csv"))
    assert Rejection.from_json(rejected.value) == Rejection("train.csv", f"manifest {OUTSIDE_REASON}")
    (data / "train.csv").unlink()
    (data / "train.csv").mkdir()
    (unreadable,) = to_items.process(str(data / "train.csv"))
    assert Rejection.from_json(unreadable.value).reason.startswith("cannot read manifest (")


# --- real runs in a local TFX pipeline ---------------------------------------------------------------------------


def test_folders_read_nothing_outside_and_count_broken_links(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    for i in range(8):
        _write(data / "cat" / f"c{i}.png", _png(value=i))
        _write(data / "dog" / f"d{i}.png", _png(value=100 + i))
    _write(outside / "secret.png", _png(value=200))
    _write(outside / "album" / "x.png", _png(value=201))
    _link(data / "cat" / "link_to_outside.png", outside / "secret.png")
    _link(data / "cat" / "link_to_missing_outside.png", outside / "nothing.png")
    _link(data / "cat" / "dangling.png", data / "cat" / "deleted.png")
    _link(data / "album", outside / "album")  # a symlinked directory outside: must not become a class
    _link(data / "dog" / "alias.png", data / "cat" / "c0.png")  # inside the tree: followed
    _write(data / "dog" / "panorama.png", _png(100))
    run(tmp_path, ImageFolderExampleGen(str(data), max_rejected_fraction=0.5, max_image_pixels=64 * 64))

    [artifact] = examples_artifacts(tmp_path)
    written = {**split_contents(artifact.uri, "train"), **split_contents(artifact.uri, "eval")}
    assert {label for label, _ in written.values()} == {"cat", "dog"}
    assert written["dog/alias.png"] == ("dog", _png(value=0))
    assert rejections(artifact.uri, "single_split") == [
        Rejection("album/x.png", OUTSIDE_REASON),
        Rejection("cat/dangling.png", "dangling symbolic link (its target does not exist)"),
        Rejection("cat/link_to_missing_outside.png", OUTSIDE_REASON),  # same reason as an existing outside file
        Rejection("cat/link_to_outside.png", OUTSIDE_REASON),
        Rejection("dog/panorama.png", "too many pixels (100x100 > data.max_image_pixels 4096)"),
    ]
    assert (property_of(artifact, "accepted_count"), property_of(artifact, "rejected_count")) == (17, 5)


def test_manifest_rows_outside_are_refused_unless_their_root_is_allowed(tmp_path: Path) -> None:
    data, outside, allowed = tmp_path / "data", tmp_path / "outside", tmp_path / "shared"
    rows = []
    for i in range(6):
        _write(data / "images" / f"{i}.png", _png(value=i))
        rows.append(f"images/{i}.png,{'ab'[i % 2]}")
    _write(outside / "secret.png", _png(value=200))
    _write(allowed / "extra.png", _png(value=201))
    rows += [
        f"{outside / 'secret.png'},a",
        f"{outside / 'missing.png'},a",
        "../outside/secret.png,b",
        "../outside/missing.png,b",
        "../shared/extra.png,b",
    ]
    _write(data / "train.csv", ("path,label\n" + "\n".join(rows) + "\n").encode())
    run(tmp_path, ImageFolderExampleGen(str(data), layout="manifest", max_rejected_fraction=0.5, allowed_roots=[str(allowed)]))

    [artifact] = examples_artifacts(tmp_path)
    written = {**split_contents(artifact.uri, "train"), **split_contents(artifact.uri, "eval")}
    assert set(written) == {f"images/{i}.png" for i in range(6)} | {"../shared/extra.png"}
    rejected = rejections(artifact.uri, "single_split")
    assert {rejection.reason for rejection in rejected} == {OUTSIDE_REASON}  # existing or not: one reason
    assert sorted(rejection.path for rejection in rejected) == sorted(
        [str(outside / "secret.png"), str(outside / "missing.png"), "../outside/secret.png", "../outside/missing.png"]
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_unreadable_files_are_counted_rejections(tmp_path: Path) -> None:
    for i in range(4):
        _write(tmp_path / "data" / "cat" / f"{i}.png", _png(value=i))
    locked = _write(tmp_path / "data" / "cat" / "locked.png", _png())
    locked.chmod(0)
    run(tmp_path, ImageFolderExampleGen(str(tmp_path / "data"), max_rejected_fraction=0.5))
    [artifact] = examples_artifacts(tmp_path)
    assert rejections(artifact.uri, "single_split") == [Rejection("cat/locked.png", "cannot read file (permission denied)")]


def test_the_config_reaches_ingestion_and_transform(tmp_path: Path) -> None:
    import json

    from retrain.pipelines.config import config_from_dict
    from retrain.pipelines.paths import resolve_run_paths
    from retrain.pipelines.pipeline import create_pipeline

    (tmp_path / "backbone").mkdir()
    config = config_from_dict(
        {
            "backbone": {"handle": "backbone"},
            "data": {"path": "data", "format": "image_manifest", "allowed_roots": ["shared"], "max_image_pixels": 1000, "background": "black"},
        },
        tmp_path,
    )
    nodes = {node.id: node for node in create_pipeline(config, resolve_run_paths(config, tmp_path)).components}
    ingest = ImageFolderExampleGen(str(tmp_path / "data"), layout="manifest", allowed_roots=[str(tmp_path / "shared")], max_image_pixels=1000)
    assert nodes["ImageFolderExampleGen"].exec_properties["custom_config"] == ingest.exec_properties["custom_config"]
    transform = next(node for node in nodes.values() if "Transform" in node.id)
    assert json.loads(transform.exec_properties["custom_config"])["settings"]["background"] == [0.0, 0.0, 0.0]
