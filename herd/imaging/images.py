"""Image formats the imaging system accepts, and what it calls them on disk and on the wire."""

from __future__ import annotations

FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tiff"),
    "WEBP": ("image/webp", "webp"),
}
"""Pillow format name -> (Content-Type, file extension)."""


def content_type(fmt: str) -> str:
    """The Content-Type of Pillow format ``fmt``."""
    return FORMATS[fmt][0]


def extension(fmt: str) -> str:
    """The file extension of Pillow format ``fmt``."""
    return FORMATS[fmt][1]
