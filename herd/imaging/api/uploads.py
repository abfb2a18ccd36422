"""Uploaded images: refused before they are decoded when too big, decoded once to be sure.

``inspect_and_save`` runs in a thread. ``Image.open`` reads only the header, so a file over
the pixel limit (a decompression bomb) is refused before any pixel is decoded; then an
original is read through once (a PNG's chunks and their CRCs, ``verify``, 100 times
cheaper than decoding; other formats are decoded), so a truncated file is refused before
it is stored or sent to a worker. A worker's result (made by Pillow) gets the header checks
only.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from attrs import frozen
from PIL import Image, UnidentifiedImageError

from herd.imaging.api.errors import BadRequest, TooLarge, Unsupported
from herd.imaging.images import FORMATS, content_type, extension


@frozen
class Limits:
    """How big an upload may be."""

    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 40_000_000


@frozen
class Inspected:
    """What an accepted upload is."""

    format: str
    content_type: str
    extension: str
    width: int
    height: int


def inspect(data: bytes, limits: Limits, decode: bool = True) -> Inspected:
    """What ``data`` is, or TooLarge / Unsupported / BadRequest. ``decode=False`` trusts
    the pixels after the header checks (a worker's result, made by Pillow itself)."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the image has {len(data)} bytes; the limit is {limits.max_bytes}")
    if not data:
        raise BadRequest("the image is empty", "bad_image")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise TooLarge(f"too many pixels: {error}") from None
    except UnidentifiedImageError:
        raise Unsupported("not an image (PNG, JPEG, GIF, BMP, TIFF or WebP expected)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadRequest(f"unreadable image: {error}", "bad_image") from None
    with image:
        if image.format not in FORMATS:
            raise Unsupported(f"{image.format} images are not accepted "
                              "(PNG, JPEG, GIF, BMP, TIFF or WebP expected)")
        width, height = image.size
        frames = getattr(image, "n_frames", 1)
        if width * height * frames > limits.max_pixels:
            raise TooLarge(f"{width}x{height} pixels x {frames} frame(s) is over the limit "
                           f"of {limits.max_pixels} pixels (refused before decoding)")
        try:
            if decode and image.format == "PNG":
                image.verify()  # every chunk read and its CRC checked: truncation shows
            elif decode:
                image.load()
        except Image.DecompressionBombError as error:
            raise TooLarge(f"too many pixels: {error}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise BadRequest(f"truncated or corrupt image: {error}", "bad_image") from None
        fmt = image.format
    return Inspected(fmt, content_type(fmt), extension(fmt), width, height)


def inspect_and_save(data: bytes, limits: Limits, folder: Path, image_id: str,
                     decode: bool = True) -> tuple[Inspected, Path]:
    """Inspect ``data``, then write it as ``folder/<image_id>.<ext>`` (atomically)."""
    info = inspect(data, limits, decode)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{image_id}.{info.extension}"
    temporary = folder / f".{image_id}.part"
    with open(temporary, "wb") as out:
        out.write(data)
    os.replace(temporary, path)
    return info, path
