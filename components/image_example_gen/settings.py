"""ImageFolderExampleGen's settings, carried as a Struct in the component's `custom_config` exec property."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Optional

from google.protobuf import any_pb2, json_format, struct_pb2

if TYPE_CHECKING:  # TFX loads only where the settings become a proto: `retrain config` never imports it
    from tfx.proto import example_gen_pb2

LAYOUTS = ("folders", "manifest")
# Default single-split pattern of each layout: `<label>/<file>`, or CSV manifests at the top of input_base.
DEFAULT_PATTERNS = {"folders": "*/*", "manifest": "*.csv"}
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # 50 Mpx: larger images are rejected from their header, never decoded


@dataclass(frozen=True)
class IngestSettings:
    """Input layout, output feature names, the largest tolerated fraction of rejected files, read threads, limits.

    `read_threads`: threads per Beam worker that read and decode images (0: one per CPU core).
    `allowed_roots`: directories besides input_base that images may resolve into (symlinks, manifest rows).
    `max_image_pixels`: images with more pixels (width x height, from the header) are rejected.
    """

    layout: str = "folders"
    image_feature: str = "image"
    label_feature: str = "label"
    path_feature: str = "path"
    max_rejected_fraction: float = 0.01
    read_threads: int = 0
    allowed_roots: tuple[str, ...] = ()
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        names = (self.image_feature, self.label_feature, self.path_feature)
        if not all(isinstance(name, str) and name for name in names) or len(set(names)) != len(names):
            raise ValueError(f"image_feature, label_feature and path_feature must be distinct non-empty names, got {names}")
        if not 0.0 <= self.max_rejected_fraction <= 1.0:
            raise ValueError(f"max_rejected_fraction must be within [0, 1], got {self.max_rejected_fraction}")
        if self.read_threads != int(self.read_threads) or self.read_threads < 0:
            raise ValueError(f"read_threads must be a whole number >= 0, got {self.read_threads}")
        if self.max_image_pixels != int(self.max_image_pixels) or self.max_image_pixels < 1:
            raise ValueError(f"max_image_pixels must be a whole number >= 1, got {self.max_image_pixels}")
        if not all(isinstance(root, str) and root for root in self.allowed_roots):
            raise ValueError(f"allowed_roots must be non-empty paths, got {list(self.allowed_roots)}")
        # A Struct carries every number as a float and every list as a list.
        object.__setattr__(self, "read_threads", int(self.read_threads))
        object.__setattr__(self, "max_image_pixels", int(self.max_image_pixels))
        object.__setattr__(self, "allowed_roots", tuple(self.allowed_roots))

    def worker_threads(self) -> int:
        """How many threads read and decode images in one Beam worker."""
        return self.read_threads or os.cpu_count() or 1

    def to_custom_config(self) -> example_gen_pb2.CustomConfig:
        """These settings as ExampleGen's `custom_config` (a Struct packed into its Any field)."""
        from tfx.proto import example_gen_pb2

        struct = struct_pb2.Struct()
        struct.update({**asdict(self), "allowed_roots": list(self.allowed_roots)})
        packed = any_pb2.Any()
        packed.Pack(struct)
        return example_gen_pb2.CustomConfig(custom_config=packed)

    @classmethod
    def from_exec_property(cls, custom_config_json: Optional[str]) -> IngestSettings:
        """Reads the settings back from the `custom_config` exec property (JSON); defaults when it is unset."""
        if not custom_config_json:
            return cls()
        from tfx.proto import example_gen_pb2
        from tfx.utils import proto_utils

        config = proto_utils.json_to_proto(custom_config_json, example_gen_pb2.CustomConfig())
        struct = struct_pb2.Struct()
        if not config.custom_config.Unpack(struct):
            raise ValueError(f"custom_config must hold a google.protobuf.Struct, got {config.custom_config.type_url!r}")
        values = json_format.MessageToDict(struct)
        unknown = set(values) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown custom_config key(s): {', '.join(sorted(unknown))}")
        return cls(**values)
