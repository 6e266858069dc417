"""Images decoded as users see them: alpha, EXIF orientation, 16-bit, palette, greyscale, antialiased resizing.

Each case is a real file made with Pillow, ingested as ImageFolderExampleGen stores it
(`checked_image`) and decoded by Transform's preprocessing (`features.decode_images`).
"""

from __future__ import annotations

import io

import retrain.components  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from retrain.components.hub_trainer import features
from retrain.components.image_example_gen.records import InvalidImage, checked_image

ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def decoded(data: bytes, size: tuple[int, int], channels: int = 3, background: tuple[float, ...] = features.WHITE) -> np.ndarray:
    """One file as training sees it: stored by ingestion, decoded by Transform's graph."""
    return features.decode_images(tf.constant([checked_image(data)]), size, channels, background).numpy()[0]


def quadrants(width: int = 16, height: int = 8) -> Image.Image:
    """An upright RGB image whose top-left quadrant is red, the rest blue: every rotation and mirror differs."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[...] = (0, 0, 255)
    pixels[: height // 2, : width // 2] = (255, 0, 0)
    return Image.fromarray(pixels)


def rgba_icon() -> Image.Image:
    """A 4x4 icon: transparent black background, one opaque red pixel, one half-transparent red pixel."""
    icon = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    icon.putpixel((1, 1), (255, 0, 0, 255))
    icon.putpixel((2, 2), (255, 0, 0, 128))
    return icon


def test_rgba_is_composited_onto_white_not_black() -> None:
    pixels = decoded(encode(rgba_icon()), (4, 4))
    np.testing.assert_allclose(pixels[0, 0], [1, 1, 1])  # was black: the alpha channel was dropped
    np.testing.assert_allclose(pixels[1, 1], [1, 0, 0])
    np.testing.assert_allclose(pixels[2, 2], [1, 127 / 255, 127 / 255], atol=1 / 255)


def test_the_background_is_configurable() -> None:
    pixels = decoded(encode(rgba_icon()), (4, 4), background=(0.0, 0.5, 0.0))
    np.testing.assert_allclose(pixels[0, 0], [0, 0.5, 0])
    np.testing.assert_allclose(pixels[2, 2], [128 / 255, 0.5 * 127 / 255, 0], atol=1 / 255)
    grey = decoded(encode(rgba_icon()), (4, 4), channels=1, background=(0.0, 0.5, 0.0))
    np.testing.assert_allclose(grey[0, 0], [0.587 * 0.5], atol=1e-3)  # the background's luma


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = quadrants()
    stored = upright.transpose({3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[ORIENTATION] = orientation  # a phone photo: the sensor's pixels plus "rotate when shown"
    data = encode(stored, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    assert checked_image(data) != data  # re-encoded upright at ingestion
    pixels = decoded(data, (8, 16))
    np.testing.assert_allclose(pixels, np.asarray(upright, np.float32) / 255, atol=0.1)


def test_a_phone_photo_with_more_pictures_is_a_jpeg_trained_upright() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    stored, depth_map = quadrants().transpose(Image.Transpose.ROTATE_90), Image.new("RGB", (8, 16))
    data = encode(stored, "MPO", save_all=True, append_images=[depth_map], quality=95, subsampling=0, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).format == "MPO"  # was rejected: "unsupported image format MPO"
    np.testing.assert_allclose(decoded(data, (8, 16)), np.asarray(quadrants(), np.float32) / 255, atol=0.1)


def test_upright_images_keep_their_bytes() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 1
    for data in (encode(quadrants(), "JPEG", exif=exif.tobytes()), encode(rgba_icon()), encode(quadrants(), "GIF")):
        assert checked_image(data) == data


def test_16_bit_png_keeps_its_precision() -> None:
    ramp = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000 + 7).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    pixels = decoded(encode(image), (8, 8), channels=1)
    np.testing.assert_allclose(pixels[..., 0], ramp / 65535, atol=1e-6)  # 8-bit decoding was off by up to 1/510
    rgb = decoded(encode(image), (8, 8), channels=3)
    np.testing.assert_allclose(rgb, np.repeat(ramp[..., None] / 65535, 3, axis=-1), atol=1e-6)


def _palette_image() -> Image.Image:
    """A 4x4 palette image: index 0 (red) everywhere, index 1 (green) at (1, 1)."""
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_shows_the_background(fmt: str) -> None:
    pixels = decoded(encode(_palette_image(), fmt, transparency=0), (4, 4))
    np.testing.assert_allclose(pixels[0, 0], [1, 1, 1])  # PNG showed the palette's red, GIF black
    np.testing.assert_allclose(pixels[1, 1], [0, 1, 0])


def test_palette_without_transparency_keeps_its_colours() -> None:
    pixels = decoded(encode(_palette_image()), (4, 4))
    np.testing.assert_allclose(pixels[0, 0], [1, 0, 0])
    np.testing.assert_allclose(pixels[1, 1], [0, 1, 0])


def test_greyscale_and_grey_with_alpha() -> None:
    grey = Image.new("L", (4, 4), 51)
    np.testing.assert_allclose(decoded(encode(grey), (4, 4), channels=3)[0, 0], [0.2, 0.2, 0.2])
    np.testing.assert_allclose(decoded(encode(grey), (4, 4), channels=1)[0, 0], [0.2])
    with_alpha = Image.new("LA", (4, 4), (51, 0))
    with_alpha.putpixel((1, 1), (51, 255))
    pixels = decoded(encode(with_alpha), (4, 4), channels=1, background=(0.0, 0.0, 0.0))
    np.testing.assert_allclose([pixels[0, 0, 0], pixels[1, 1, 0]], [0.0, 0.2])


def test_rgb_to_one_channel_is_luma() -> None:
    pixels = decoded(encode(Image.new("RGB", (4, 4), (255, 0, 0))), (4, 4), channels=1)
    np.testing.assert_allclose(pixels[0, 0], [0.2989], atol=1e-3)


def test_32_bit_bmp_padding_is_not_alpha() -> None:
    data = encode(Image.new("RGBA", (4, 4), (10, 20, 30, 0)), "BMP")  # 32 bits a pixel, the fourth byte 0
    np.testing.assert_allclose(decoded(data, (4, 4))[0, 0], np.array([10, 20, 30]) / 255, atol=1e-6)


def test_downscaling_is_antialiased() -> None:
    stripes = np.zeros((64, 64), np.uint8)
    stripes[:, np.arange(64) % 8 < 2] = 255  # a quarter of each 8-pixel period is white
    pixels = decoded(encode(Image.fromarray(stripes)), (8, 8), channels=1)
    np.testing.assert_allclose(pixels[:, 1:-1], 0.25, atol=0.01)  # plain bilinear samples between two black columns: 0


def noisy_photo(width: int = 480, height: int = 360, alpha: bool = False) -> Image.Image:
    """A photo-sized image of smooth gradients plus noise (and, with `alpha`, a varying alpha channel)."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, width)[None, :, None] * np.ones((height, 1, 4 if alpha else 3))
    pixels = np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGBA" if alpha else "RGB")


@pytest.mark.parametrize("progressive", [False, True])
def test_a_photo_sized_jpeg_cut_anywhere_is_rejected(progressive: bool) -> None:
    # JPEGs are checked at reduced DCT scale: every coefficient is still read, so any truncation is found.
    data = encode(noisy_photo(), "JPEG", quality=90, progressive=progressive)
    assert checked_image(data) == data
    for fraction in (0.3, 0.6, 0.95, 0.999):
        with pytest.raises(InvalidImage, match="cannot decode JPEG image"):
            checked_image(data[: int(len(data) * fraction)])


def test_compositing_after_resizing_equals_resizing_the_composited_image() -> None:
    photo = noisy_photo(96, 64, alpha=True)
    rgba = np.asarray(photo, np.float32) / 255.0
    composited = rgba[..., :3] * rgba[..., 3:] + 1.0 * (1.0 - rgba[..., 3:])  # onto white, at full size
    expected = tf.image.resize(composited, (12, 8), antialias=True).numpy()
    np.testing.assert_allclose(decoded(encode(photo), (12, 8)), expected, atol=1e-5)
