"""Images that TensorFlow's decoders would get wrong, re-encoded at ingestion so that training sees what users see.

Transform decodes with `tf.io.decode_image` (hub_trainer/features.py), which composites
alpha (RGBA, LA, palette transparency in PNG), reads 16-bit PNGs and greyscale, but
knows nothing of EXIF orientation and renders a GIF's transparent colour black. Only
those images are rewritten, as lossless PNG from Pillow's decode (EXIF orientation
applied, GIF transparency as alpha); every other image keeps its bytes, so ingestion
re-encodes nothing it does not have to.
"""

from __future__ import annotations

import io
from typing import Optional

from PIL import Image, ImageOps

_ORIENTATION_TAG = 0x0112  # EXIF Orientation: 1 is upright, 2-8 mirror and/or rotate
_PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")
PNG_COMPRESS_LEVEL = 1  # fast: the record is deflated again in its GZIP TFRecord file


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # an unreadable EXIF block leaves the image as stored
        return 1


def needs_pillow(image: Image.Image) -> bool:
    """True when TensorFlow's decoder would give other pixels than the image shows (readable before decoding)."""
    gif_transparency = image.format == "GIF" and "transparency" in image.info
    return gif_transparency or _orientation(image) not in (1, 0)


def _png(image: Image.Image) -> bytes:
    if image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def normalised(image: Image.Image) -> Optional[bytes]:
    """A loaded image re-encoded as PNG when TensorFlow would decode it wrongly (EXIF-rotated, GIF transparency), else None."""
    if not needs_pillow(image):
        return None
    if image.format == "GIF":
        image = image.convert("RGBA")
    return _png(ImageOps.exif_transpose(image))
