"""Benchmark of image ingestion: ImageFolderExampleGen against a plain Python loop."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.result import Result

_WIDTH, _HEIGHT = 480, 360  # a downsized phone photo: raw inputs are larger than model inputs


def write_photo_like_images(root: Path, count: int, size: tuple[int, int] = (_WIDTH, _HEIGHT)) -> None:
    """`count` photo-like images as `<root>/digit<N>/img<i>.<ext>`: RGB digits of `size` (width, height, default
    480x360) with sensor-like noise.

    Three in four are JPEG (quality 90), the rest PNG, as in a typical labelled photo folder.
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    width, height = size
    for i in range(count):
        index = i % len(digits.images)
        folder = root / f"digit{digits.target[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        gray = Image.fromarray((digits.images[index] * 15).astype(np.uint8)).resize((width, height), Image.BILINEAR)
        tint = rng.uniform(0.6, 1.0, size=3)
        pixels = np.asarray(gray, np.float32)[..., None] * tint + rng.normal(0.0, 8.0, size=(height, width, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
        if i % 4 == 3:
            image.save(folder / f"img{i}.png", format="PNG")
        else:
            image.save(folder / f"img{i}.jpg", format="JPEG", quality=90)


def _time_image_example_gen(input_base: Path, output_dir: Path, beam_args: list[str], read_threads: int = 0) -> tuple[float, int]:
    """Seconds for ImageFolderExampleGen's executor (Beam, hash split train/eval, GZIP TFRecords); accepted count."""
    import apache_beam as beam
    from tfx.types import standard_artifacts

    from retrain.components.image_example_gen.component import ImageFolderExampleGen
    from retrain.components.image_example_gen.executor import ACCEPTED_COUNT_PROPERTY, Executor

    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir)
    context = Executor.Context(make_beam_pipeline_fn=lambda: beam.Pipeline(argv=beam_args), tmp_dir=str(output_dir / "tmp"))
    start = time.perf_counter()
    Executor(context).Do({}, {"examples": [examples]}, dict(ImageFolderExampleGen(str(input_base), read_threads=read_threads).exec_properties))
    return time.perf_counter() - start, examples.get_int_custom_property(ACCEPTED_COUNT_PROPERTY)


def _time_plain_loop(input_base: Path, output_dir: Path) -> tuple[float, int]:
    """Seconds for one Python loop: read, validate with PIL, write the same hash-split GZIP TFRecords; count."""
    import hashlib

    import tensorflow as tf

    from retrain.components.image_example_gen.gzip_sink import GZIP_LEVEL
    from retrain.components.image_example_gen.records import classify, folder_item
    from retrain.components.image_example_gen.settings import IngestSettings

    settings = IngestSettings()
    start = time.perf_counter()
    writers = {}
    for split in ("train", "eval"):
        (output_dir / f"Split-{split}").mkdir(parents=True)
        writers[split] = tf.io.TFRecordWriter(
            str(output_dir / f"Split-{split}" / "data.gz"), options=tf.io.TFRecordOptions(compression_type="GZIP", compression_level=GZIP_LEVEL)
        )
    accepted = 0
    for path in sorted(input_base.glob("*/*")):
        item = folder_item(str(path), str(input_base))
        example = classify(path.read_bytes(), item, settings)
        if isinstance(example, tf.train.Example):
            record = example.SerializeToString(deterministic=True)
            bucket = int(hashlib.sha256(record).hexdigest(), 16) % 3  # as ExampleGen's default 2:1 hash split
            writers["train" if bucket < 2 else "eval"].write(record)
            accepted += 1
    for writer in writers.values():
        writer.close()
    return time.perf_counter() - start, accepted


def image_ingest_speedup(quick: bool) -> Result:
    """Plain single-process loop time / ImageFolderExampleGen time (DirectRunner, 1 worker), same images (goal >= 1).

    Both write the same GZIP TFRecords at the same zlib level; the worker reads, decodes and
    compresses on one thread per core (`data.read_threads: 0`). For comparison stderr also
    shows the same worker with one read thread, and two worker processes.
    """
    import retrain.components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

    count = 300 if quick else 2000
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        write_photo_like_images(work / "warmup", 40)
        write_photo_like_images(work / "images", count)
        single_worker = ["--direct_num_workers=1"]
        _time_image_example_gen(work / "warmup", work / "warmup_gen", single_worker)  # first-run imports, untimed
        _time_plain_loop(work / "warmup", work / "warmup_loop")
        loop_s, loop_count = _time_plain_loop(work / "images", work / "loop")
        gen_s, gen_count = _time_image_example_gen(work / "images", work / "gen", single_worker)
        if gen_count != loop_count or gen_count != count:
            raise RuntimeError(f"ImageFolderExampleGen accepted {gen_count} of {count} images, the plain loop {loop_count}")
        print(
            f"  image_ingest_speedup: {count} images {_WIDTH}x{_HEIGHT}; plain loop {loop_s:.2f}s ({count / loop_s:.0f} images/s), "
            f"ImageFolderExampleGen 1 worker {gen_s:.2f}s ({count / gen_s:.0f} images/s)",
            file=sys.stderr,
        )
        variants = {
            "1 worker, 1 read thread": (single_worker, 1),
            "2 worker processes": (["--direct_num_workers=2", "--direct_running_mode=multi_processing"], 0),
        }
        for index, (name, (beam_args, read_threads)) in enumerate(variants.items()):
            seconds, accepted = _time_image_example_gen(work / "images", work / f"gen_{index}", beam_args, read_threads)
            print(
                f"  image_ingest_speedup: ImageFolderExampleGen {name} {seconds:.2f}s "
                f"({count / seconds:.0f} images/s, {accepted} accepted), ratio {loop_s / seconds:.3f}",
                file=sys.stderr,
            )
    return Result(ratio=loop_s / gen_s, goal=1.0, lower_is_better=False)
