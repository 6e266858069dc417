"""Pure logic of ImageFolderExampleGen, free of Beam and I/O.

A matched file (folder layout) or a manifest row (manifest layout) becomes an
`ImageItem`; an item's bytes become a tf.Example holding the encoded image, its
label and its path, or a `Rejection` that says why in one line.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import warnings
from dataclasses import asdict, dataclass
from typing import Iterator, Union

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from retrain.components.image_example_gen.normalise import needs_pillow, normalised
from retrain.components.image_example_gen.settings import DEFAULT_MAX_IMAGE_PIXELS, IngestSettings

ACCEPTED_FORMATS = ("BMP", "GIF", "JPEG", "PNG")
# Pillow's names for files that are one of the accepted formats: phones write JPEGs with extra pictures (MPO).
_FORMAT_OF = {"MPO": "JPEG"}
MANIFEST_COLUMNS = ("path", "label")
# Ingestion enforces its own pixel cap (data.max_image_pixels) from the header; Pillow's warning below its hard limit is noise.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)
# Leading bytes of the accepted formats: names the format of a file too damaged for PIL to identify.
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}


@dataclass(frozen=True)
class ImageItem:
    """One image to read: its location, its path relative to input_base (stored in the example) and its label."""

    uri: str
    path: str
    label: str


@dataclass(frozen=True)
class Rejection:
    """An input left out of the examples: its path relative to input_base and the reason, in one line."""

    path: str
    reason: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Rejection:
        return cls(**json.loads(line))


class InvalidImage(ValueError):
    """Bytes that are not an accepted, fully decodable image; the message is the reason."""


class ManifestError(ValueError):
    """A manifest that cannot be read at all (e.g. its header lacks the path and label columns)."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def relative_path(uri: str, base: str) -> str:
    """`uri` relative to the directory `base` (unchanged when it is not below it)."""
    prefix = base.rstrip("/") + "/"
    return uri[len(prefix) :] if uri.startswith(prefix) else uri


def folder_item(uri: str, input_base: str) -> Union[ImageItem, Rejection]:
    """Folder layout: the label is the name of the file's parent directory."""
    path = relative_path(uri, input_base)
    label = posixpath.basename(posixpath.dirname(path))
    if not label:
        return Rejection(path, "no label: the file is not inside a label folder")
    return ImageItem(uri=uri, path=path, label=label)


def check_manifest_header(header: list[str], manifest_path: str) -> None:
    """Raises ManifestError unless the header names the `path` and `label` columns."""
    if not set(MANIFEST_COLUMNS) <= {column.strip() for column in header}:
        raise ManifestError(f"manifest {manifest_path}: header must have the columns path,label; got {','.join(header)!r}")


def parse_manifest(text: str, manifest_uri: str, input_base: str) -> Iterator[Union[ImageItem, Rejection]]:
    """Manifest layout: one item per CSV row `path,label`, paths relative to the manifest's directory.

    Rows without a path or a label are rejections; blank lines are skipped.
    """
    manifest_path = relative_path(manifest_uri, input_base)
    reader = csv.DictReader(io.StringIO(text))
    check_manifest_header(list(reader.fieldnames or []), manifest_path)
    reader.fieldnames = [column.strip() for column in reader.fieldnames or []]
    for row in reader:
        where = f"{manifest_path} line {reader.line_num}"
        image_path = (row.get("path") or "").strip()
        label = (row.get("label") or "").strip()
        if not image_path:
            yield Rejection(where, "manifest row has no path")
            continue
        path = posixpath.normpath(posixpath.join(posixpath.dirname(manifest_path), image_path))
        if not label:
            yield Rejection(path, f"manifest row has no label ({where})")
            continue
        yield ImageItem(uri=posixpath.join(input_base, path), path=path, label=label)


def too_many_pixels(size: tuple[int, int], max_pixels: int) -> str:
    """The rejection reason of an image larger than `data.max_image_pixels`."""
    return f"too many pixels ({size[0]}x{size[1]} > data.max_image_pixels {max_pixels})"


def _open(data: bytes) -> Image.Image:
    """The image from its header (nothing decoded yet); raises InvalidImage with the reason."""
    if not data:
        raise InvalidImage("empty file")
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:  # over twice Pillow's own limit, before ours could see the size
        raise InvalidImage(f"too many pixels ({one_line(error)})") from None
    except Exception as error:  # PIL raises many types on malformed headers
        claimed = next((fmt for magic, fmt in _SIGNATURES.items() if data.startswith(magic)), None)
        if claimed is None:
            raise InvalidImage("not an image (unrecognised content)") from None
        detail = "unreadable header" if isinstance(error, UnidentifiedImageError) else one_line(error)
        raise InvalidImage(f"cannot decode {claimed} image ({detail})") from None


def checked_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> bytes:
    """The bytes to store for an accepted image that PIL fully decodes; raises InvalidImage with the reason otherwise.

    The pixel count is checked from the header before anything is decoded; JPEGs kept as
    they are decode at reduced scale. The bytes are `data` itself, or a PNG re-encoding
    where TensorFlow's decoder would show other pixels (see normalise.py).
    """
    with _open(data) as image:
        if _FORMAT_OF.get(image.format, image.format) not in ACCEPTED_FORMATS:
            raise InvalidImage(f"unsupported image format {image.format} (accepted: {', '.join(ACCEPTED_FORMATS)})")
        if image.width * image.height > max_pixels:
            raise InvalidImage(too_many_pixels(image.size, max_pixels))
        # A JPEG can decode at 1/8 scale in the inverse DCT (Pillow's `draft`): every coefficient is still
        # entropy-decoded, so truncation and corruption are found as at full size, in ~3/4 of the time.
        # Only a JPEG's EXIF is read without decoding (a PNG's getexif() loads the image and hides its errors).
        scaled = _FORMAT_OF.get(image.format, image.format) == "JPEG" and not needs_pillow(image)
        if scaled:
            image.draft(image.mode, (1, 1))
        try:
            image.load()
        except Exception as error:  # truncated or corrupt pixel data
            raise InvalidImage(f"cannot decode {image.format} image ({one_line(error)})") from None
        return data if scaled else normalised(image) or data


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def make_example(data: bytes, item: ImageItem, settings: IngestSettings) -> tf.train.Example:
    """A tf.Example with the encoded image bytes (as read, or normalised), the label and the path (all bytes features)."""
    feature = {
        settings.image_feature: _bytes_feature(data),
        settings.label_feature: _bytes_feature(item.label.encode("utf-8")),
        settings.path_feature: _bytes_feature(item.path.encode("utf-8")),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def classify(data: bytes, item: ImageItem, settings: IngestSettings) -> Union[tf.train.Example, Rejection]:
    """One file's bytes: the example when they are a valid accepted image, else the rejection."""
    try:
        stored = checked_image(data, settings.max_image_pixels)
    except InvalidImage as error:
        return Rejection(item.path, str(error))
    return make_example(stored, item, settings)
