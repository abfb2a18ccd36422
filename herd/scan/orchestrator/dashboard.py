"""The scan pool's web dashboard: one page, its JSON, the hits' images and ``/metrics``.

``/`` is a self-contained page that polls ``/api/pool`` every 2 s: ``static/dashboard.html``
with ``dashboard.css`` and ``dashboard.js`` inlined (nothing from elsewhere; the
Content-Security-Policy allows exactly that style and that script, by their hashes). ``/images/<worker>/<site>/<folder>/<file>`` serves the images a
hit saved, read-only, from ``logs_root/<worker>/`` (each worker's LOGDIR, the layout of
``bin/launch-workers``). ``/metrics`` is the Prometheus text of ``PoolMetrics``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from importlib import resources
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import quote

from attrs import asdict
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import Request

from herd.scan.orchestrator.metrics import PoolMetrics
from herd.scan.orchestrator.snapshot import HitView, PoolSnapshot

MAX_IMAGE_BYTES = 32 * 1024 * 1024
RASTER = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
          ".gif": "image/gif", ".webp": "image/webp"}
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
         (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))

STYLE_TAG = '<link rel="stylesheet" href="dashboard.css">'
SCRIPT_TAG = '<script src="dashboard.js"></script>'


def _sha256(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def load_page() -> tuple[bytes, bytes]:
    """The page from the package's ``static/`` files, its style and script inlined, and the
    Content-Security-Policy that allows exactly them."""
    static = resources.files(__package__) / "static"
    html, css, script = ((static / name).read_text("utf-8")
                         for name in ("dashboard.html", "dashboard.css", "dashboard.js"))
    for tag in (STYLE_TAG, SCRIPT_TAG):
        if html.count(tag) != 1:
            raise ValueError(f"dashboard.html must name {tag} exactly once")
    page = html.replace(STYLE_TAG, f"<style>{css}</style>").replace(SCRIPT_TAG, f"<script>{script}</script>")
    policy = (f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(css)}; "
              "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    return page.encode(), policy.encode()


def dashboard_resource(
    snapshot: Callable[[], PoolSnapshot], metrics: PoolMetrics, logs_root: Optional[Path]
) -> Resource:
    """The dashboard's resource tree, to serve with ``twisted.web.server.Site``."""
    root, api = _Page(*load_page()), notFound()  # /api itself: 404
    api.putChild(b"pool", _Pool(snapshot, logs_root))
    root.putChild(b"api", api)
    root.putChild(b"images", _Images(logs_root))
    root.putChild(b"metrics", _Metrics(metrics))
    return root


class _Leaf(Resource):
    """A resource with no children: anything below it is 404."""

    isLeaf = True

    def render(self, request: Request) -> bytes | int:
        if request.postpath and request.postpath != [b""]:
            return notFound().render(request)
        request.setHeader(b"x-content-type-options", b"nosniff")
        return super().render(request)


class _Page(_Leaf):
    """``/``: the page, the same bytes each time."""

    isLeaf = False

    def __init__(self, page: bytes, policy: bytes) -> None:
        super().__init__()
        self._page, self._policy = page, policy

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self if path == b"" else notFound()

    def render_GET(self, request: Request) -> bytes:
        for name, value in ((b"content-type", b"text/html; charset=utf-8"),
                            (b"content-security-policy", self._policy),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-cache")):
            request.setHeader(name, value)
        return self._page


class _Pool(_Leaf):
    """``/api/pool``: the snapshot as JSON, each hit with the URLs of its images."""

    def __init__(self, snapshot: Callable[[], PoolSnapshot], logs_root: Optional[Path]) -> None:
        super().__init__()
        self._snapshot, self._root = snapshot, logs_root

    def render_GET(self, request: Request) -> bytes:
        pool = self._snapshot()
        data = asdict(pool)
        for hit, out in zip(pool.hits, data["hits"]):
            out["images"] = self._images(hit)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(data).encode()

    def _images(self, hit: HitView) -> list[str]:
        parts = (hit.worker_id, hit.site_id, hit.folder)
        if self._root is None or not all(map(_safe_name, parts)):
            return []
        folder = _inside(self._root, os.path.join(*parts))
        try:
            names = sorted(os.listdir(folder)) if folder else []
        except OSError:
            return []
        prefix = "/images/" + "/".join(quote(p, safe="") for p in parts) + "/"
        # Links (de-duplicated images) count when they resolve inside logs_root.
        return [prefix + quote(name, safe="") for name in names
                if _image_type(_inside(self._root, os.path.join(*parts, name)) or "")]


class _Images(Resource):
    """``/images/<worker>/<site>/<folder>/<file>``: raster images only, nothing else."""

    isLeaf = True

    def __init__(self, logs_root: Optional[Path]) -> None:
        super().__init__()
        self._root = logs_root

    def render_GET(self, request: Request) -> bytes | int:
        names = [p.decode("utf-8", "replace") for p in request.postpath]
        path = kind = body = None
        if self._root is not None and len(names) == 4 and all(map(_safe_name, names)):
            path = _inside(self._root, os.path.join(*names))
        if path is not None and (kind := _image_type(path)) is not None:
            body = _read(path)
        if body is None or kind is None:
            return notFound("No Such Image").render(request)
        for name, value in ((b"content-type", kind.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"content-security-policy", b"default-src 'none'; sandbox"),
                            (b"cache-control", b"private, max-age=3600")):
            request.setHeader(name, value)
        return body


class _Metrics(_Leaf):
    def __init__(self, metrics: PoolMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        body, content_type = self._metrics.render()
        request.setHeader(b"content-type", content_type.encode())
        return body


def _safe_name(name: str) -> bool:
    """One plain path segment: not empty, not ``.``/``..``, no separator, no NUL."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def _inside(root: Path, relative: str) -> Optional[str]:
    """``root/relative`` with every symlink resolved, or None if that leaves ``root``."""
    base = os.path.realpath(root)
    path = os.path.realpath(os.path.join(base, relative))
    return path if os.path.commonpath([base, path]) == base and path != base else None


def _read(path: str, limit: int = MAX_IMAGE_BYTES) -> Optional[bytes]:
    """The first ``limit`` bytes of the regular file at ``path``; None if it is none or too big."""
    if not os.path.isfile(path):  # before open(): a FIFO would block the reactor
        return None
    try:
        with open(path, "rb") as image:
            info = os.fstat(image.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_IMAGE_BYTES:
                return image.read(limit)
    except OSError:
        pass
    return None


def _image_type(path: str) -> Optional[str]:
    """The content type of the raster image at ``path`` (extension, else magic), or None."""
    head = _read(path, 16)
    if head is None:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    kind = RASTER.get(os.path.splitext(path)[1].lower())
    return kind or next((t for magic, t in MAGIC if head.startswith(magic)), None)
