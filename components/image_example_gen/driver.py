"""ImageFolderExampleGen's driver: TFX's FileBasedDriver, with an input fingerprint that survives dangling symlinks.

TFX fingerprints the matched files with `fileio.stat`, which follows symbolic links:
one dangling link in an image folder failed the whole run in the driver with a bare
`NotFoundError`. Here a file that cannot be stat'ed counts with the link's own
lstat (size and mtime), so the executor can reject it with its reason instead.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional
from unittest import mock

from tfx.components.example_gen import driver, input_processor
from tfx.dsl.io import fileio, filesystem
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.utils import io_utils

_NANOS = 10**9


def _size_and_mtime(path: str) -> tuple[int, int]:
    """(bytes, mtime in whole seconds) of a matched file; a dangling symlink's own when its target is missing."""
    try:
        stat = fileio.stat(path)
        return stat.length, int(stat.mtime_nsec / _NANOS)
    except filesystem.NotFoundError:
        if not os.path.islink(path):
            raise
        link = os.lstat(path)
        return link.st_size, int(link.st_mtime_ns / _NANOS)


def link_safe_fingerprint(split_name: str, file_pattern: str) -> str:
    """`io_utils.generate_fingerprint` (same text for the same files), tolerating dangling symlinks."""
    files = fileio.glob(file_pattern)
    total_bytes = xor_checksum = sum_checksum = 0
    for path in files:
        size, mtime = _size_and_mtime(path)
        total_bytes += size
        xor_checksum ^= mtime
        sum_checksum += mtime
    return f"split:{split_name},num_files:{len(files)},total_bytes:{total_bytes},xor_checksum:{xor_checksum},sum_checksum:{sum_checksum}"


class LinkSafeInputProcessor(input_processor.FileBasedInputProcessor):
    """FileBasedInputProcessor whose span resolution fingerprints with `link_safe_fingerprint`.

    TFX calls `io_utils.generate_fingerprint` from deep inside span resolution, so it is
    swapped for the duration of the call; another thread fingerprinting meanwhile gets
    the same text for the same files, so the swap is harmless even when drivers overlap.
    """

    def resolve_span_and_version(self) -> tuple[int, Optional[int]]:
        with mock.patch.object(io_utils, "generate_fingerprint", link_safe_fingerprint):
            return super().resolve_span_and_version()


class ImageFolderDriver(driver.FileBasedDriver):
    """FileBasedDriver with the link-safe input processor."""

    def get_input_processor(
        self,
        splits: Iterable[example_gen_pb2.Input.Split],
        range_config: Optional[range_config_pb2.RangeConfig] = None,
        input_base_uri: Optional[str] = None,
    ) -> input_processor.InputProcessor:
        assert input_base_uri
        return LinkSafeInputProcessor(input_base_uri, splits, range_config)
