"""Find the images a page references through ``<img`` tags.

Pages in the wild are not well-formed, so this is a tolerant scanner over bytes rather than
an HTML parser: it finds every ``<img`` tag (any case), takes its ``src`` attribute (double-
quoted, single-quoted or bare), decodes HTML entities and resolves the URL against the page.
``srcset``, ``data-src`` and ``<source>`` are not ``src`` of an ``<img`` and are ignored.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urldefrag, urljoin, urlsplit

_IMG_TAG = re.compile(rb"""<img(?=[\s/>])((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    rb"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?"""
)
_BASE = re.compile(rb"<base\b[^>]*?\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)


def image_urls(page: bytes, page_url: str) -> list[str]:
    """Absolute http(s) URLs of the page's ``<img src>``, in page order, without repeats."""
    base = _base_url(page, page_url)
    found: dict[str, None] = {}
    for tag in _IMG_TAG.finditer(page):
        raw = _src_of(tag.group(1))
        url = None if raw is None else _resolve(raw, base)
        if url is not None:
            found.setdefault(url, None)
    return list(found)


def _src_of(attributes: bytes) -> bytes | None:
    """The value of the first ``src`` attribute of a tag's attribute text."""
    for match in _ATTRIBUTE.finditer(attributes):
        if match.group(1).lower() == b"src":
            return next((v for v in match.groups()[1:] if v is not None), b"")
    return None


def _base_url(page: bytes, page_url: str) -> str:
    """The page URL, or the one a ``<base href>`` tag sets."""
    match = _BASE.search(page)
    if match is None:
        return page_url
    href = _decode(match.group(1))
    return urljoin(page_url, href) if href else page_url


def _decode(raw: bytes) -> str:
    return html.unescape(raw.decode("latin-1")).strip()


def _resolve(raw: bytes, base: str) -> str | None:
    """Absolute URL for an ``src`` value, or None for empty, data: and other schemes."""
    text = _decode(raw)
    if not text:
        return None
    try:
        url, _ = urldefrag(urljoin(base, text))
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        return None
    return _quote_unsafe(url)


def _quote_unsafe(url: str) -> str:
    """Percent-encode spaces and non-ASCII so the URL can go on the wire.

    The page was decoded as Latin-1, so a character below 256 stands for the page's own
    byte (a UTF-8 page keeps its UTF-8); characters from entities above that are UTF-8.
    """
    return "".join(ch if 0x20 < ord(ch) < 0x7F else _percent(ch) for ch in url)


def _percent(ch: str) -> str:
    raw = bytes([ord(ch)]) if ord(ch) < 256 else ch.encode("utf-8")
    return "".join(f"%{b:02X}" for b in raw)
