#!/usr/bin/env python3
"""Write the demo sites' PNG images, deterministically, with the standard library only.

    python3 demo/make_images.py          # (re)write every image, then check them all
    python3 demo/make_images.py --check  # only check: valid PNGs, sizes, all different

``demo/site`` images are listed in SITE_IMAGES. ``demo/course`` images are found by reading
the course pages: every ``{{BASE}}/<host>/<path>`` URL in an ``<img`` tag's ``src`` or
``srcset`` gets a PNG at ``demo/course/<host>/<path>`` (even when the name ends in ``.jpg``:
the bytes are PNG, which browsers and the scan worker do not mind).

Each image is a small pattern (gradient, stripes, checks, rings or plasma) whose colours and
shape come from a CRC of its path, and carries its path in a ``tEXt`` chunk, so every file is
different and rewriting gives the same bytes.
"""

from __future__ import annotations

import math
import re
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
COURSE = HERE / "course"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_BYTES, MAX_BYTES = 100, 20 * 1024

# Site-root-relative path -> (width, height).
SITE_IMAGES: dict[str, tuple[int, int]] = {
    # ad-comment.html, missing-image.html
    "img/shamrock-banner.png": (160, 40),
    "img/golden-dome-ad.png": (120, 90),
    # ad-top.html
    "img/ad-top-sunrise.png": (120, 60),
    "img/ad-top-harbor.png": (120, 60),
    # no-ad.html, big-absolute.html
    "img/site-logo.png": (96, 32),
    "img/noad-river.png": (120, 80),
    "img/noad-field.png": (120, 80),
    # big-absolute.html: <img> sources
    "img/feature.png": (150, 75),
    "img/hotplanet-sponsor.png": (150, 50),
    **{f"img/news-{n:02d}.png": (64 + 4 * n, 36 + 2 * n) for n in range(1, 11)},
    # big-absolute.html: referenced, but never by an <img src> (srcset, <source>, data-src, og:image)
    **{f"img/news-{n:02d}-small.png": (32 + 2 * n, 18 + n) for n in range(1, 11)},
    "img/feature-wide.png": (200, 50),
    "img/lazy-background.png": (128, 48),
    "img/og-card.png": (120, 63),
    # relative.html, deep/relative-deep.html
    "img/rel-plain.png": (48, 48),
    "img/rel-dot.png": (56, 40),
    "img/rel-root.png": (40, 56),
    "img/deep-up.png": (64, 32),
    "img/deep-root.png": (32, 64),
    "deep/img/deep-local.png": (50, 50),
    # upper.html
    "img/upper-case.png": (88, 31),
    "img/mixed-case.png": (88, 31),
    "img/unquoted.png": (60, 60),
    "img/single-quoted.png": (70, 50),
    # missing-image.html
    "img/county-show.png": (80, 80),
}

_IMG_TAG = re.compile(rb"<img\b[^>]*>", re.I)
_BASE_URL = re.compile(rb"\{\{BASE\}\}/([^\s\"'>,]+)")
_SIZE_IN_NAME = re.compile(r"-(\d+)x(\d+)\.\w+$")


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rows: list[bytes], comment: str) -> bytes:
    """An 8-bit RGB PNG from raw rows of ``3 * width`` bytes each."""
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Comment\x00" + comment.encode("ascii"))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def check_png(data: bytes) -> tuple[int, int]:
    """Return ``(width, height)`` of a valid PNG, or raise ValueError.

    Checks the signature, every chunk's CRC, IHDR first and IEND last, and that the IDAT
    stream inflates to exactly the size the header announces (8-bit RGB or RGBA only).
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("bad PNG signature")
    pos, kinds, idat = len(PNG_SIGNATURE), [], b""
    width = height = channels = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("truncated chunk")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC or length in {kind!r} chunk")
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                raise ValueError("only 8-bit RGB/RGBA, non-interlaced PNGs are expected")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        kinds.append(kind)
        pos += 12 + length
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        raise ValueError("chunks out of order or missing")
    if len(zlib.decompress(idat)) != height * (1 + width * channels):
        raise ValueError("image data does not match the header's size")
    return width, height


def _palette(seed: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    a = ((seed >> 0) & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)
    b = tuple(255 - c // 2 if i == seed % 3 else c // 3 for i, c in enumerate(a))
    return a, b  # type: ignore[return-value]


def render(path: str, width: int, height: int) -> bytes:
    """The PNG for ``path``: a pattern picked and coloured by a CRC of the path."""
    seed = zlib.crc32(path.encode())
    (r0, g0, b0), (r1, g1, b1) = _palette(seed)
    style = seed % 5
    period = 4 + (seed >> 24) % 12

    def mix(t: float) -> bytes:
        t = min(max(t, 0.0), 1.0)
        return bytes((round(r0 + (r1 - r0) * t), round(g0 + (g1 - g0) * t), round(b0 + (b1 - b0) * t)))

    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            if style == 0:  # diagonal gradient
                t = (x / max(width - 1, 1) + y / max(height - 1, 1)) / 2
            elif style == 1:  # stripes over a vertical gradient
                t = 0.7 * y / max(height - 1, 1) + (0.3 if (x // period) % 2 else 0.0)
            elif style == 2:  # checks
                t = 1.0 if (x // period + y // period) % 2 else 0.15
            elif style == 3:  # rings
                t = (math.hypot(x - width / 2, y - height / 2) / period) % 1.0
            else:  # plasma
                t = 0.5 + 0.25 * (math.sin(x / period) + math.cos(y / (period * 0.7)))
            row += mix(t)
        rows.append(bytes(row))
    return encode_png(width, height, rows, f"herd demo image {path}")


def course_images() -> dict[str, tuple[int, int]]:
    """Course-relative image path -> size, for every ``{{BASE}}`` URL in an ``<img`` tag."""
    found: dict[str, tuple[int, int]] = {}
    for page in sorted(COURSE.glob("**/*.html")):
        for tag in _IMG_TAG.findall(page.read_bytes()):
            for url in _BASE_URL.findall(tag):
                rel = url.decode("ascii").split("?")[0]
                m = _SIZE_IN_NAME.search(rel)
                w, h = (int(m.group(1)), int(m.group(2))) if m else (960, 540)
                scale = max(w, h) / 96  # at most 96 pixels a side, keeping the aspect ratio
                found[rel] = (max(8, round(w / scale)), max(8, round(h / scale)))
    return found


def all_images() -> dict[Path, tuple[str, int, int]]:
    """Every image to write: file -> (name used as seed, width, height)."""
    out: dict[Path, tuple[str, int, int]] = {}
    for rel, (w, h) in SITE_IMAGES.items():
        out[SITE / rel] = ("site/" + rel, w, h)
    for rel, (w, h) in course_images().items():
        out[COURSE / rel] = ("course/" + rel, w, h)
    return out


def check_all(files: list[Path]) -> list[str]:
    """Problems with ``files``: invalid PNG, size out of bounds, identical bytes."""
    problems, seen = [], {}
    for f in files:
        if not f.is_file():
            problems.append(f"{f}: missing")
            continue
        data = f.read_bytes()
        try:
            check_png(data)
        except ValueError as e:
            problems.append(f"{f}: {e}")
        if not MIN_BYTES <= len(data) <= MAX_BYTES:
            problems.append(f"{f}: {len(data)} bytes, outside {MIN_BYTES}..{MAX_BYTES}")
        if data in seen:
            problems.append(f"{f}: same bytes as {seen[data]}")
        seen[data] = f
    return problems


def main(argv: list[str]) -> int:
    images = all_images()
    if "--check" not in argv:
        for f, (name, w, h) in images.items():
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(render(name, w, h))
    problems = check_all(list(images))
    for p in problems:
        print(p, file=sys.stderr)
    for root in (SITE, COURSE):
        sizes = [f.stat().st_size for f in images if f.is_relative_to(root) and f.is_file()]
        print(f"{root.relative_to(HERE.parent)}: {len(sizes)} images, {sum(sizes)} bytes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
