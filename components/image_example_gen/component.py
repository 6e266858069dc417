"""ImageFolderExampleGen: a file-based TFX ExampleGen for folders (or CSV manifests) of images."""

from __future__ import annotations

from typing import Optional, Sequence

from tfx.components.example_gen import utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2

from retrain.components.image_example_gen import executor
from retrain.components.image_example_gen.driver import ImageFolderDriver
from retrain.components.image_example_gen.settings import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_PATTERNS, IngestSettings


class ImageFolderExampleGen(FileBasedExampleGen):
    """tf.Examples (encoded image bytes, label, path) from image files; bad files are reported, never dropped silently.

    `layout='folders'`: each split pattern matches image files and the label is the
    parent directory's name (default pattern `*/*`, i.e. `<label>/<file>`).
    `layout='manifest'`: each split pattern matches CSV manifests with the columns
    `path,label`, paths relative to the manifest's directory (default pattern `*.csv`).
    Splits, spans/versions, fingerprints and caching are those of FileBasedExampleGen
    (with manifests, the fingerprint covers the manifest files, not the images they list).

    Rejected inputs (path + reason, JSON lines) and per-split counts are written to
    `<examples uri>/rejected/Split-<input split>/`; the totals become the artifact's
    `accepted_count` and `rejected_count` custom properties. The run fails when more
    than `max_rejected_fraction` of the inputs is rejected, or none is accepted.
    Each Beam worker reads and decodes with `read_threads` threads (0: one per CPU core).

    Only files whose real path (symlinks resolved) lies inside `input_base` or one of
    `allowed_roots` are read; others (manifest rows with absolute or `../` paths,
    symlinks pointing out) are rejected with one reason, whether or not they exist.
    Images of more than `max_image_pixels` pixels are rejected from their header.
    Images TensorFlow would decode wrongly (EXIF-rotated, GIF transparency) are stored
    re-encoded as PNG (see normalise.py); all others keep their bytes.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = ImageFolderDriver

    def __init__(
        self,
        input_base: str,
        *,
        layout: str = "folders",
        image_feature: str = "image",
        label_feature: str = "label",
        path_feature: str = "path",
        max_rejected_fraction: float = 0.01,
        read_threads: int = 0,
        allowed_roots: Sequence[str] = (),
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        input_config: Optional[example_gen_pb2.Input] = None,
        output_config: Optional[example_gen_pb2.Output] = None,
        range_config: Optional[range_config_pb2.RangeConfig] = None,
    ) -> None:
        settings = IngestSettings(
            layout=layout,
            image_feature=image_feature,
            label_feature=label_feature,
            path_feature=path_feature,
            max_rejected_fraction=max_rejected_fraction,
            read_threads=read_threads,
            allowed_roots=tuple(allowed_roots),
            max_image_pixels=max_image_pixels,
        )
        super().__init__(
            input_base=input_base,
            input_config=input_config or utils.make_default_input_config(DEFAULT_PATTERNS[layout]),
            output_config=output_config,
            custom_config=settings.to_custom_config(),
            range_config=range_config,
        )
