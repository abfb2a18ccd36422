"""The filters, with Pillow. Plain functions of bytes: the worker runs them in a thread.

- ``grayscale``: the image converted to mode ``L`` (ITU-R 601-2 luma), saved as PNG,
  whatever the original's format; so every pixel has R = G = B when read back as RGB.
- ``blur``: a Gaussian blur of radius 2, in the original's mode and format (PNG stays
  PNG, JPEG stays JPEG at quality 95). Palette and bilevel images (modes ``P`` and ``1``,
  which Pillow cannot blur) are blurred in RGB (RGBA if transparent) and saved so.
"""

from __future__ import annotations

import io

from attrs import frozen
from PIL import Image, ImageFilter

from herd.imaging.images import FORMATS, content_type, extension

BLUR_RADIUS = 2


class FilterError(Exception):
    """The image could not be read or filtered."""


@frozen
class Filtered:
    """A filtered image."""

    data: bytes
    content_type: str
    extension: str


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise FilterError(f"cannot read the image: {error}") from None
    return image


def grayscale(data: bytes) -> Filtered:
    """The image in mode L, as PNG."""
    image = _open(data)
    out = io.BytesIO()
    image.convert("L").save(out, "PNG")
    return Filtered(out.getvalue(), content_type("PNG"), extension("PNG"))


def blur(data: bytes) -> Filtered:
    """The image blurred (Gaussian, radius 2), same mode and format where Pillow allows."""
    image = _open(data)
    fmt = image.format if image.format in FORMATS else "PNG"
    if image.mode in ("P", "1", "PA"):
        transparent = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    try:
        blurred = image.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    except ValueError:  # modes the filter refuses (e.g. I;16): blur a RGB copy
        blurred = image.convert("RGB").filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    out = io.BytesIO()
    options = {"quality": 95} if fmt == "JPEG" else {}
    if fmt == "JPEG" and blurred.mode not in ("L", "RGB", "CMYK"):
        blurred = blurred.convert("RGB")
    blurred.save(out, fmt, **options)
    return Filtered(out.getvalue(), content_type(fmt), extension(fmt))


FILTERS = {"grayscale": grayscale, "blur": blur}


def apply(name: str, data: bytes) -> Filtered:
    """Filter ``name`` applied to the image ``data``."""
    function = FILTERS.get(name)
    if function is None:
        raise FilterError(f"unknown filter {name!r}")
    try:
        return function(data)
    except (OSError, ValueError) as error:
        raise FilterError(f"cannot filter the image: {error}") from None
