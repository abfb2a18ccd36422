"""The dashboard's resources and the pool metrics, through treq's StubTreq (no reactor)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Optional

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.web.resource import Resource
from twisted.web.test.requesthelper import DummyRequest

from herd.scan.orchestrator.dashboard import dashboard_resource
from herd.scan.orchestrator.metrics import NoMetrics, PoolMetrics
from herd.scan.orchestrator.pool import Worker
from herd.scan.orchestrator.snapshot import DeadJob, HitView, PoolSnapshot

NOW = 1_795_000_000.0
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg body" * 10
FOLDER = "2026-11-24-09-05-03"


def worker(worker_id: str, state: str, running: int = 0, done: int = 0) -> Worker:
    return Worker(worker_id, "127.0.0.1", 54001, capacity=1, registered=NOW - 100,
                  last_sent=NOW - 10, last_result=NOW - 5, jobs_done=done, state=state,
                  running=running, last_heartbeat=NOW - 2)


def make_pool(queued: int = 3) -> PoolSnapshot:
    return PoolSnapshot(
        taken_at=NOW,
        workers=(worker("w-idle", "idle", done=4), worker("w-busy", "busy", 1, 2),
                 worker("w-gone", "unreachable"), worker("w-dead", "dead")),
        queued=queued,
        running=1,
        hits=(HitView(7, "w-idle", "S1", "ad<b>", "http://example.test/a?x=1&y=<2>", NOW - 3, FOLDER),
              HitView(5, "w-busy", "S2", "AD2", "http://example.test/b", NOW - 60, FOLDER),
              HitView(4, "../etc", "S1", "AD", "http://example.test/c", NOW - 90, FOLDER),
              HitView(3, "empty", "S3", "AD", "http://example.test/d", NOW - 99, FOLDER)),
        dead=(DeadJob(9, "http://example.test/dead", "AD9", "S9", 3, "no worker answered", NOW - 1),),
        results={"yes": 2, "no": 1, "error": 0, "dead": 1},
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    scan = root / "w-idle" / "S1" / FOLDER
    scan.mkdir(parents=True)
    (scan / "banner.png").write_bytes(PNG)
    (scan / "photo.JPG").write_bytes(JPEG)
    (scan / "image-3").write_bytes(PNG)  # no extension: recognised by its first bytes
    (scan / "notes.txt").write_text("not an image")
    (scan / "evil.svg").write_text("<svg onload=alert(1)></svg>")
    (scan / "sub.png").mkdir()
    (root / "w-idle" / "_worker.log").write_text("secret log")
    (tmp_path / "outside.png").write_bytes(PNG)
    os.symlink(tmp_path / "outside.png", scan / "escape.png")
    os.symlink(tmp_path, root / "w-idle" / "S1" / "link")
    os.mkfifo(scan / "pipe.png")  # must neither be listed nor block the reactor
    busy = root / "w-busy" / "S2" / FOLDER
    busy.mkdir(parents=True)
    os.symlink(f"../../../w-idle/S1/{FOLDER}/banner.png", busy / "copy.png")  # de-duplicated
    (busy / "anim.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8))
    (root / "empty" / "S3" / FOLDER).mkdir(parents=True)
    return root


class Dashboard:
    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.treq = StubTreq(resource)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        response = self.treq.get("http://dashboard.test" + path)
        self.treq.flush()
        result = self._result(response)
        body = self._result(result.content())
        headers = {k.decode().lower(): v[0].decode() for k, v in result.headers.getAllRawHeaders()}
        return result.code, headers, body

    @staticmethod
    def _result(deferred: Any) -> Any:
        results: list[Any] = []
        deferred.addBoth(results.append)
        assert results, "no answer without a reactor"
        if hasattr(results[0], "raiseException"):
            results[0].raiseException()
        return results[0]


def make_dashboard(logs_root: Optional[Path], pool: Optional[PoolSnapshot] = None) -> tuple[Dashboard, PoolMetrics]:
    snapshot = pool or make_pool()
    metrics = PoolMetrics(lambda: snapshot)
    return Dashboard(dashboard_resource(lambda: snapshot, metrics, logs_root)), metrics


def test_api_pool_is_the_snapshot_with_image_urls(logs: Path) -> None:
    dashboard, _ = make_dashboard(logs)
    code, headers, body = dashboard.get("/api/pool")
    assert code == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    data = json.loads(body)
    assert data["taken_at"] == NOW and data["queued"] == 3 and data["running"] == 1
    assert data["results"] == {"yes": 2, "no": 1, "error": 0, "dead": 1}
    assert [(w["worker_id"], w["state"]) for w in data["workers"]] == [
        ("w-idle", "idle"), ("w-busy", "busy"), ("w-gone", "unreachable"), ("w-dead", "dead")]
    assert data["workers"][1] == {
        "worker_id": "w-busy", "host": "127.0.0.1", "port": 54001, "registered": NOW - 100,
        "state": "busy",
        "last_sent": NOW - 10, "last_result": NOW - 5, "last_heartbeat": NOW - 2,
        "running": 1, "capacity": 1, "jobs_done": 2}
    first, second, third, fourth = data["hits"]
    assert first["job_id"] == 7 and first["ad_id"] == "ad<b>" and first["folder"] == FOLDER
    prefix = f"/images/w-idle/S1/{FOLDER}/"
    assert first["images"] == [prefix + name for name in ("banner.png", "image-3", "photo.JPG")]
    assert second["images"] == [f"/images/w-busy/S2/{FOLDER}/{name}" for name in ("anim.webp", "copy.png")]
    assert third["images"] == []  # a worker id that would leave logs_root
    assert fourth["images"] == []  # the folder exists, empty
    assert data["dead"] == [{"job_id": 9, "url": "http://example.test/dead", "ad_id": "AD9",
                             "site_id": "S9", "attempts": 3, "reason": "no worker answered",
                             "failed_at": NOW - 1}]


def test_api_pool_without_logs_root_lists_no_image() -> None:
    dashboard, _ = make_dashboard(None)
    data = json.loads(dashboard.get("/api/pool")[2])
    assert [h["images"] for h in data["hits"]] == [[], [], [], []]
    assert dashboard.get(f"/images/w-idle/S1/{FOLDER}/banner.png")[0] == 404


def test_image_urls_are_percent_encoded(tmp_path: Path) -> None:
    scan = tmp_path / "w #1?" / "S1" / FOLDER
    scan.mkdir(parents=True)
    (scan / "a b%.png").write_bytes(PNG)
    pool = PoolSnapshot(NOW, (), 0, 0, (HitView(1, "w #1?", "S1", "AD", "http://x.test/", NOW, FOLDER),), (), {})
    dashboard, _ = make_dashboard(tmp_path, pool)
    [url] = json.loads(dashboard.get("/api/pool")[2])["hits"][0]["images"]
    assert url == f"/images/w%20%231%3F/S1/{FOLDER}/a%20b%25.png"
    assert dashboard.get(url)[2] == PNG


@pytest.mark.parametrize("name, kind, content", [
    (f"w-idle/S1/{FOLDER}/banner.png", "image/png", PNG),
    (f"w-idle/S1/{FOLDER}/photo.JPG", "image/jpeg", JPEG),
    (f"w-idle/S1/{FOLDER}/image-3", "image/png", PNG),
    (f"w-busy/S2/{FOLDER}/copy.png", "image/png", PNG),  # a link inside logs_root
])
def test_images_are_served_byte_for_byte(logs: Path, name: str, kind: str, content: bytes) -> None:
    dashboard, _ = make_dashboard(logs)
    code, headers, body = dashboard.get(f"/images/{name}")
    assert code == 200 and body == content
    assert headers["content-type"] == kind
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]


@pytest.mark.parametrize("path", [
    "/images/../../etc/passwd",
    "/images/%2e%2e/%2e%2e/etc/passwd",
    "/images/w-idle/S1/%2e%2e/%2e%2e/_worker.log",
    "/images/w-idle/S1/link/outside.png",  # a symlinked folder pointing outside
    "/images/w-idle%2fS1%2f..%2f..%2f..%2f/outside.png/x/y",
    f"/images/w-idle/S1/{FOLDER}/escape.png",  # a symlink pointing outside logs_root
    f"/images/w-idle/S1/{FOLDER}/sub.png",  # a directory
    f"/images/w-idle/S1/{FOLDER}",
    f"/images/w-idle/S1/{FOLDER}/",
    f"/images/w-idle/S1/{FOLDER}/notes.txt",  # not an image
    f"/images/w-idle/S1/{FOLDER}/evil.svg",  # could carry script: refused
    f"/images/w-idle/S1/{FOLDER}/missing.png",
    f"/images/w-idle/S1/{FOLDER}/pipe.png",  # a FIFO
    f"/images/w-idle/S1/{FOLDER}/banner.png/more",
    "/images/w-idle/_worker.log",
    "/images/",
    "/images",
])
def test_images_refuse_anything_else(logs: Path, path: str) -> None:
    dashboard, _ = make_dashboard(logs)
    code, _, body = dashboard.get(path)
    assert code == 404, path
    assert b"root:" not in body and PNG not in body and b"secret" not in body


@pytest.mark.parametrize("segments", [
    [b"..", b"..", b"etc", b"passwd"],
    [b"w-idle", b"S1", b"..", b"_worker.log"],
    [b"w-idle/S1/link", b"outside.png", b"", b""],
    [b"", b"etc", b"passwd", b"x"],
    [b"w-idle", b"S1", FOLDER.encode(), b"banner.png\x00.txt"],
])
def test_raw_traversal_segments_are_refused(logs: Path, segments: list[bytes]) -> None:
    """Segments as twisted.web hands them over, already percent-decoded, unnormalised."""
    dashboard, _ = make_dashboard(logs)
    images = dashboard.resource.getChildWithDefault(b"images", DummyRequest([]))
    request = DummyRequest(segments)
    images.render(request)
    assert request.responseCode == 404 and PNG not in b"".join(request.written)


def test_metrics_count_and_read_the_snapshot() -> None:
    dashboard, metrics = make_dashboard(None)
    for _ in range(3):
        metrics.on_acked()
    metrics.on_refused("busy")
    metrics.on_refused("busy")
    metrics.on_refused("malformed")
    for kind in ("yes", "yes", "no", "dead"):
        metrics.on_finished(kind)
    metrics.on_dispatched(0.002)
    metrics.on_dispatched(3.0)
    code, headers, body = dashboard.get("/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert samples[("herd_scan_checks_acked_total", ())] == 3
    assert samples[("herd_scan_checks_refused_total", (("reason", "busy"),))] == 2
    assert samples[("herd_scan_checks_refused_total", (("reason", "malformed"),))] == 1
    assert samples[("herd_scan_checks_refused_total", (("reason", "denied"),))] == 0
    assert samples[("herd_scan_jobs_finished_total", (("result", "yes"),))] == 2
    assert samples[("herd_scan_jobs_finished_total", (("result", "no"),))] == 1
    assert samples[("herd_scan_jobs_finished_total", (("result", "error"),))] == 0
    assert samples[("herd_scan_jobs_finished_total", (("result", "dead"),))] == 1
    assert samples[("herd_scan_dispatch_latency_seconds_count", ())] == 2
    assert samples[("herd_scan_dispatch_latency_seconds_sum", ())] == pytest.approx(3.002)
    assert samples[("herd_scan_dispatch_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert samples[("herd_scan_dispatch_latency_seconds_bucket", (("le", "+Inf"),))] == 2
    assert samples[("herd_scan_queue_depth", ())] == 3
    assert samples[("herd_scan_jobs_running", ())] == 1
    for state in ("idle", "busy", "unreachable", "dead"):
        assert samples[("herd_scan_workers", (("state", state),))] == 1


def test_metrics_gauges_follow_the_live_snapshot() -> None:
    pools = [PoolSnapshot(NOW, (), 0, 0, (), (), {}), make_pool(queued=12)]
    metrics = PoolMetrics(lambda: pools[0])
    text = metrics.render()[0].decode()
    assert "herd_scan_queue_depth 0.0" in text
    for state in ("idle", "busy", "unreachable", "dead"):  # exported even when 0
        assert f'herd_scan_workers{{state="{state}"}} 0.0' in text
    pools.pop(0)
    assert "herd_scan_queue_depth 12.0" in metrics.render()[0].decode()


def test_metrics_have_registries_of_their_own() -> None:
    calls: list[int] = []

    def snapshot() -> PoolSnapshot:
        calls.append(1)
        return make_pool()

    first, second = PoolMetrics(snapshot), PoolMetrics(snapshot)  # no duplicate name error
    assert first.registry is not second.registry
    assert calls == []  # registering does not take a snapshot
    shared = CollectorRegistry()
    PoolMetrics(snapshot, shared).on_acked()
    assert shared.get_sample_value("herd_scan_checks_acked_total") == 1
    assert first.registry.get_sample_value("herd_scan_checks_acked_total") == 0


def test_no_metrics_accepts_every_call() -> None:
    quiet = NoMetrics()
    quiet.on_acked()
    quiet.on_refused("busy")
    quiet.on_dispatched(1.5)
    quiet.on_finished("yes")


def test_page_is_self_contained(logs: Path) -> None:
    dashboard, _ = make_dashboard(logs)
    code, headers, body = dashboard.get("/")
    assert code == 200 and headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", page)
    assert not re.search(r"(?i)<(link|iframe|object|embed)\b|\b(src|href)\s*=\s*[\"']|@import|url\(", page)
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page
    for anchor in ('id="workers"', 'id="queue-depth"', 'id="hits"', 'id="dead"', 'id="updated"',
                   'id="error"', '"api/pool"'):
        assert anchor in page
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy


def test_unknown_paths_are_404(logs: Path) -> None:
    dashboard, _ = make_dashboard(logs)
    for path in ("/nope", "/api", "/api/pool/x", "/metrics/x", "/index.html"):
        assert dashboard.get(path)[0] == 404, path


def test_page_is_the_static_files_with_style_and_script_inlined(logs: Path) -> None:
    import base64
    import hashlib
    from importlib import resources

    static = resources.files("herd.scan.orchestrator") / "static"
    css, script = ((static / name).read_text("utf-8") for name in ("dashboard.css", "dashboard.js"))
    dashboard, _ = make_dashboard(logs)
    _, headers, body = dashboard.get("/")
    page = body.decode()
    assert f"<style>{css}</style>" in page and f"<script>{script}</script>" in page
    for text in (css, script):  # the policy allows exactly these, by hash
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in headers["content-security-policy"]
