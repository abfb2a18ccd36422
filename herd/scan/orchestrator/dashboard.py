"""The scan pool's web dashboard: one page, its JSON, the hits' images and ``/metrics``.

``/`` is a self-contained page (inline CSS and script, nothing from elsewhere) that polls
``/api/pool`` every 2 s. ``/images/<worker>/<site>/<folder>/<file>`` serves the images a
hit saved, read-only, from ``logs_root/<worker>/`` (each worker's LOGDIR, the layout of
``bin/launch-workers``). ``/metrics`` is the Prometheus text of ``PoolMetrics``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
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

CSS = """
body{font:14px system-ui,sans-serif;margin:0 1.5em 2em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:.6em 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}.empty{color:#888}
#summary{display:flex;gap:1.5em;flex-wrap:wrap;align-items:baseline}#updated{color:#666}
.big{font-size:1.6em;font-weight:600}body.down #error{display:block}body.down main{opacity:.55}
#error{display:none;background:#fde2e1;border:1px solid #c0392b;color:#8e1b10;padding:.5em 1em}
table{border-collapse:collapse;background:#fff}th{background:#eee}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
.badge,.result{border-radius:.8em;padding:.1em .6em;color:#fff;margin-right:.3em}
.state-idle{background:#2e8b57}.state-busy{background:#1f6fb2}.result{background:#e4e4e4;color:#222}
.state-unreachable{background:#d9822b}.state-dead{background:#c0392b}
.hit{background:#fff;border:1px solid #ddd;margin:.4em 0;padding:.4em .6em}.hit small{color:#888}
.hit .meta>span{margin-right:1.2em}.hit .site{font-weight:600}
.thumbs img{height:64px;margin:.3em .3em 0 0;border:1px solid #ccc}
"""

SCRIPT = r"""
const $ = (s) => document.querySelector(s);
let lastOk = null, hitNodes = new Map();
function el(tag, cls, text) {
  const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function iso(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC"; }
function ago(t, now) {
  const s = Math.max(0, Math.round(now - t)), f = (n, unit) => Math.floor(s / n) + unit + " ago";
  return s < 60 ? s + " s ago" : s < 3600 ? f(60, " min") : s < 86400 ? f(3600, " h") : f(86400, " d");
}
function when(t, now, cls) {
  const e = el("td", cls, t == null ? "never" : ago(t, now)); if (t != null) e.title = iso(t); return e;
}
function fill(id, rows) { $(id + " tbody").replaceChildren(...rows); $(id + "-empty").hidden = rows.length > 0; }
function hitNode(h) {
  const d = el("div", "hit"); d.dataset.jobId = h.job_id;
  const m = el("div", "meta"), f = el("span", "fetched"); f.title = iso(h.fetched);
  const u = el("a", "url", h.url || "(no URL)"); u.href = h.url; u.rel = "noopener noreferrer";
  if (!h.url || !["http:", "https:"].includes(u.protocol)) u.removeAttribute("href");
  const field = (label, value) => { const s = el("span"); s.append(el("small", "", label + " "), value); return s; };
  m.append(field("site", el("span", "site", h.site_id)), field("worker", el("span", "worker", h.worker_id)),
    field("ad", el("span", "ad", h.ad_id)), field("fetched", f), field("folder", el("span", "folder", h.folder)),
    field("page", u));
  const t = el("div", "thumbs");
  for (const src of h.images) {
    const a = el("a"), i = el("img"); a.href = src; i.src = src; i.alt = src.split("/").pop();
    a.append(i); t.append(a);
  }
  d.append(m, t); return d;
}
function render(p) {
  const now = p.taken_at;
  $("#queue-depth").textContent = p.queued; $("#running").textContent = p.running;
  const kinds = Object.assign({yes: 0, no: 0, error: 0, dead: 0}, p.results);
  $("#results").replaceChildren(...Object.entries(kinds).map(([k, n]) => {
    const s = el("span", "result", k + ": " + n); s.dataset.kind = k; return s; }));
  fill("#workers", p.workers.map((w) => {
    const tr = el("tr"); tr.dataset.workerId = w.worker_id;
    const st = el("td", "state"); st.append(el("span", "badge state-" + w.state, w.state));
    tr.append(el("td", "id", w.worker_id), el("td", "addr", w.host + ":" + w.port), st,
      when(w.last_sent, now, "last-sent"), when(w.last_result, now, "last-result"),
      when(w.last_heartbeat, now, "last-heartbeat"),
      el("td", "load", w.running + "/" + w.capacity), el("td", "done", w.jobs_done));
    return tr; }));
  const seen = new Map();
  const hits = p.hits.map((h) => {
    let key = [h.job_id, h.worker_id, h.site_id, h.folder, h.url, ...h.images].join("\n");
    while (seen.has(key)) key += "+";
    const d = hitNodes.get(key) || hitNode(h);
    d.querySelector(".fetched").textContent = ago(h.fetched, now);
    seen.set(key, d); return d; });
  hitNodes = seen; $("#hits-list").replaceChildren(...hits); $("#hits-empty").hidden = hits.length > 0;
  fill("#dead", p.dead.map((j) => {
    const tr = el("tr"); tr.dataset.jobId = j.job_id;
    tr.append(el("td", "job", j.job_id), el("td", "url", j.url), el("td", "ad", j.ad_id),
      el("td", "site", j.site_id), el("td", "attempts", j.attempts), el("td", "reason", j.reason),
      when(j.failed_at, now, "failed-at"));
    return tr; }));
}
function tick() {
  $("#updated").textContent = lastOk === null ? "never" :
    lastOk.toISOString().slice(11, 19) + " UTC (" + ago(lastOk / 1000, Date.now() / 1000) + ")";
}
async function poll() {
  const abort = new AbortController(), timer = setTimeout(() => abort.abort(), 5000);
  try {
    const r = await fetch("api/pool", {cache: "no-store", signal: abort.signal});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    lastOk = new Date(); document.body.classList.remove("down");
  } catch (e) {
    document.body.classList.add("down");
    $("#error").textContent = "The orchestrator does not answer (" + (e.name === "AbortError" ?
      "no answer within 5 s" : e.message) + "); showing the last data received. Retrying every 2 s.";
  } finally { clearTimeout(timer); tick(); setTimeout(poll, 2000); }
}
setInterval(tick, 1000); poll();
"""

BODY = """<h1>herd scan pool</h1>
<div id="summary"><div>queued <span id="queue-depth" class="big">-</span></div>
<div>running <span id="running" class="big">-</span></div><div id="results"></div>
<div>last updated <span id="updated">never</span></div></div>
<div id="error" role="alert"></div><main>
<h2>Workers</h2><table id="workers"><thead><tr><th>id</th><th>address</th><th>state</th>
<th>last job sent</th><th>last result</th><th>last heartbeat</th><th>running/capacity</th>
<th>jobs done</th></tr></thead><tbody></tbody></table><p id="workers-empty" class="empty">No worker.</p>
<h2>Recent hits</h2><div id="hits"><div id="hits-list"></div>
<p id="hits-empty" class="empty">No hit yet.</p></div>
<h2>Dead letters</h2><table id="dead"><thead><tr><th>job</th><th>URL</th><th>ad</th><th>site</th>
<th>attempts</th><th>reason</th><th>failed</th></tr></thead><tbody></tbody></table>
<p id="dead-empty" class="empty">No dead job.</p></main>"""


def _sha256(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>herd scan pool</title>'
    f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head>'
    f"<body>{BODY}<script>{SCRIPT}</script></body></html>\n"
).encode()
PAGE_POLICY = (f"default-src 'none'; script-src {_sha256(SCRIPT)}; style-src {_sha256(CSS)}; "
               "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'").encode()


def dashboard_resource(
    snapshot: Callable[[], PoolSnapshot], metrics: PoolMetrics, logs_root: Optional[Path]
) -> Resource:
    """The dashboard's resource tree, to serve with ``twisted.web.server.Site``."""
    root, api = _Page(), notFound()  # /api itself: 404
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
    isLeaf = False

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self if path == b"" else notFound()

    def render_GET(self, request: Request) -> bytes:
        for name, value in ((b"content-type", b"text/html; charset=utf-8"),
                            (b"content-security-policy", PAGE_POLICY),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-cache")):
            request.setHeader(name, value)
        return PAGE


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
