"""The worker's scan: fetch with treq (stubbed), look for the ad, save images on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.static import Data
from twisted.web.util import Redirect

from herd.protocols.scan import CheckRequest
from herd.protocols.scan_replies import Failed, Found, NotFound, Result
from herd.scan.worker.scanlog import read_scans
from herd.scan.worker.scanner import FetchLimits, PageScanner

WHEN = time.mktime((2026, 11, 24, 9, 5, 3, 0, 0, 0)) - time.timezone  # 09:05:03 UTC
PNG_A = b"\x89PNG\r\n\x1a\n" + b"A" * 300
PNG_B = b"\x89PNG\r\n\x1a\n" + b"B" * 500

PAGE = b"""<html><body><!-- IRISH_CSE --><img src="img/a.png">
<IMG SRC='/img/b.png' alt="b"><img src=img/missing.png><img src="img/a.png"></body></html>"""


class Hang(Resource):
    """A page that never answers."""

    isLeaf = True

    def render_GET(self, request):
        return NOT_DONE_YET


def site() -> Resource:
    root = Resource()
    img = Resource()
    root.putChild(b"img", img)
    img.putChild(b"a.png", Data(PNG_A, "image/png"))
    img.putChild(b"b.png", Data(PNG_B, "image/png"))
    root.putChild(b"page.html", Data(PAGE, "text/html"))
    root.putChild(b"plain.html", Data(b"<html>nothing <img src=img/a.png></html>", "text/html"))
    root.putChild(b"moved.html", Redirect(b"/sub/page.html"))
    sub = Resource()
    root.putChild(b"sub", sub)
    sub.putChild(b"page.html", Data(b"IRISH_CSE <img src=../img/b.png>", "text/html"))
    root.putChild(b"hang.html", Hang())
    return root


class ScannerTests(SynchronousTestCase):
    def setUp(self) -> None:
        # not self.mktemp(): under pytest it lands in the working directory
        self.logdir = Path(tempfile.mkdtemp(prefix="herd-scanner-")) / "logs"
        self.addCleanup(shutil.rmtree, self.logdir.parent)
        self.clock = Clock()
        self.clock.advance(WHEN)
        self.http = StubTreq(site())
        self.scanner = PageScanner(self.http, self.clock, self.logdir, FetchLimits(page_timeout=10))

    def scan(self, path: str, ad: str = "IRISH_CSE", site_id: str = "S1"):
        d = self.scanner.scan(CheckRequest(f"http://pages.test/{path}", ad, site_id))
        self.http.flush()
        return self.successResultOf(d)

    def test_found_saves_every_image_once(self) -> None:
        result = self.scan("page.html")
        self.assertEqual(result, Found("S1", "2026-11-24-09-05-03"))
        folder = self.logdir / "S1" / "2026-11-24-09-05-03"
        self.assertEqual(sorted(p.name for p in folder.iterdir()), ["a.png", "b.png"])
        self.assertEqual((folder / "a.png").read_bytes(), PNG_A)
        self.assertEqual((folder / "b.png").read_bytes(), PNG_B)

    def test_missing_image_is_logged_not_fatal(self) -> None:
        self.scan("page.html")
        messages = [e for e in self.flushLoggedErrors()]  # warnings are not errors
        self.assertEqual(messages, [])

    def test_not_found_creates_an_empty_folder(self) -> None:
        self.assertEqual(self.scan("plain.html"), NotFound())
        folder = self.logdir / "S1" / "2026-11-24-09-05-03"
        self.assertEqual(list(folder.iterdir()), [])

    def test_any_ad_string_as_plain_text(self) -> None:
        self.assertEqual(self.scan("page.html", ad="<img"), Found("S1", "2026-11-24-09-05-03"))
        self.assertEqual(self.scan("page.html", ad="IRISH.CSE"), NotFound())

    def test_same_second_gets_distinct_folders(self) -> None:
        first = self.scan("page.html")
        second = self.scan("page.html")
        third = self.scan("plain.html")
        self.assertEqual(
            [first.folder, second.folder],
            ["2026-11-24-09-05-03", "2026-11-24-09-05-03-2"],
        )
        self.assertEqual(len(list((self.logdir / "S1").iterdir())), 3)
        self.assertEqual(third, NotFound())

    def test_redirect_is_followed_and_images_resolve_against_the_final_url(self) -> None:
        result = self.scan("moved.html", site_id="S2")
        self.assertIsInstance(result, Found)
        saved = self.logdir / "S2" / result.folder / "b.png"
        self.assertEqual(saved.read_bytes(), PNG_B)

    def test_missing_page(self) -> None:
        result = self.scan("nothing-here.html")
        self.assertEqual(result, Failed("page http://pages.test/nothing-here.html answered HTTP 404"))
        self.assertFalse((self.logdir / "S1").exists())

    def test_page_over_the_limit_is_refused(self) -> None:
        self.scanner.limits = FetchLimits(page_bytes=50)
        result = self.scan("page.html")
        self.assertIsInstance(result, Failed)
        self.assertIn("larger than the limit of 50 bytes", result.reason)

    def test_image_over_the_limit_is_skipped(self) -> None:
        self.scanner.limits = FetchLimits(image_bytes=400)
        result = self.scan("page.html")
        folder = self.logdir / "S1" / result.folder
        self.assertEqual([p.name for p in folder.iterdir()], ["a.png"])

    def test_images_per_page_limit(self) -> None:
        self.scanner.limits = FetchLimits(images_per_page=1)
        result = self.scan("page.html")
        self.assertEqual([p.name for p in (self.logdir / "S1" / result.folder).iterdir()], ["a.png"])

    def test_silent_site_times_out(self) -> None:
        d = self.scanner.scan(CheckRequest("http://pages.test/hang.html", "IRISH_CSE", "S1"))
        self.http.flush()
        self.assertNoResult(d)
        self.clock.advance(10)
        self.http.flush()
        result = self.successResultOf(d)
        self.assertEqual(result, Failed("page http://pages.test/hang.html did not answer within 10 s"))

    def test_unwritable_logdir_is_an_error_reply(self) -> None:
        self.logdir.mkdir(parents=True)
        (self.logdir / "S1").write_text("a file where the site folder should be")
        result = self.scan("page.html")
        self.assertIsInstance(result, Failed)
        self.assertIn("cannot create the log folder", result.reason)


    # -- de-duplication and the scan log ---------------------------------------------

    def records(self) -> list[dict]:
        return [json.loads(line) for line in (self.logdir / "_scans.jsonl").read_text().splitlines()]

    def test_second_scan_links_the_images_of_the_first(self) -> None:
        first = self.scan("page.html")
        self.clock.advance(60)
        second = self.scan("page.html")
        self.assertEqual(second, Found("S1", "2026-11-24-09-06-03"))
        one, two = self.logdir / "S1" / first.folder, self.logdir / "S1" / second.folder
        for name in ("a.png", "b.png"):
            self.assertEqual((two / name).read_bytes(), (one / name).read_bytes())
            self.assertFalse((two / name).is_symlink())
            self.assertEqual(os.stat(two / name).st_ino, os.stat(one / name).st_ino)
            self.assertEqual(os.stat(one / name).st_nlink, 2)
        self.assertEqual(self.scanner.images.stats(), (4, 2, len(PNG_A) + len(PNG_B), len(PNG_A) + len(PNG_B)))
        images = {i["file"]: i for i in self.records()[1]["images"]}
        self.assertEqual(images["a.png"]["linked_to"], "S1/2026-11-24-09-05-03/a.png")
        self.assertEqual(images["b.png"]["linked_to"], "S1/2026-11-24-09-05-03/b.png")

    def test_another_site_links_too(self) -> None:
        self.scan("page.html")
        result = self.scan("moved.html", site_id="S2")
        saved = self.logdir / "S2" / result.folder / "b.png"
        first = self.logdir / "S1" / "2026-11-24-09-05-03" / "b.png"
        self.assertEqual(os.stat(saved).st_ino, os.stat(first).st_ino)

    def test_a_restarted_worker_still_links(self) -> None:
        first = self.scan("page.html")
        self.scanner = PageScanner(self.http, self.clock, self.logdir, FetchLimits(page_timeout=10))
        second = self.scan("page.html")
        a1 = self.logdir / "S1" / first.folder / "a.png"
        a2 = self.logdir / "S1" / second.folder / "a.png"
        self.assertEqual(os.stat(a1).st_ino, os.stat(a2).st_ino)

    def test_dedup_off_writes_copies(self) -> None:
        self.scanner = PageScanner(
            self.http, self.clock, self.logdir, FetchLimits(page_timeout=10), dedup=False
        )
        first = self.scan("page.html")
        second = self.scan("page.html")
        for name in ("a.png", "b.png"):
            one, two = self.logdir / "S1" / first.folder / name, self.logdir / "S1" / second.folder / name
            self.assertEqual(two.read_bytes(), one.read_bytes())
            self.assertNotEqual(os.stat(one).st_ino, os.stat(two).st_ino)
        self.assertEqual(self.scanner.images.stats().bytes_saved, 0)
        self.assertTrue(all(i["linked_to"] is None for r in self.records() for i in r["images"]))

    def test_large_images_are_hashed_and_written_through_in_thread(self) -> None:
        from twisted.internet.defer import succeed

        from herd.scan.worker.scanner import THREAD_MIN_BYTES

        big = bytes(range(256)) * (THREAD_MIN_BYTES // 256 + 1)
        root = site()
        root.children[b"img"].putChild(b"big.png", Data(big, "image/png"))
        root.putChild(b"big.html", Data(b"IRISH_CSE <img src=img/big.png><img src=img/a.png>",
                                        "text/html"))
        calls: list[str] = []

        def in_thread(f, *args):  # type: ignore[no-untyped-def]
            calls.append(f.__name__)
            return succeed(f(*args))

        self.http = StubTreq(root)
        self.scanner = PageScanner(self.http, self.clock, self.logdir,
                                   FetchLimits(page_timeout=10), in_thread=in_thread)
        self.assertIsInstance(self.scan("big.html"), Found)
        folder = self.logdir / "S1" / "2026-11-24-09-05-03"
        self.assertEqual((folder / "big.png").read_bytes(), big)
        self.assertEqual((folder / "a.png").read_bytes(), PNG_A)
        self.assertEqual(calls, ["_sha256", "write_file"])  # the small image stays inline

    def test_the_info_log_says_linked(self) -> None:
        events: list[dict] = []
        self.scanner.log = Logger(observer=events.append)
        self.scan("page.html")
        self.scan("page.html")
        saved = [e for e in events if e["log_format"].startswith("saved ")]
        self.assertEqual([e.get("link") for e in saved], [None, None, "hard", "hard"])
        linked = saved[2]
        self.assertIn("link to", linked["log_format"])
        self.assertTrue(linked["linked_to"].startswith("S1/2026-11-24-09-05-03/"))

    def test_one_scan_record_per_scan(self) -> None:
        self.scan("page.html")
        self.clock.advance(1.5)
        self.scan("plain.html", site_id="S2")
        self.scan("nothing-here.html", ad="AD2", site_id="S3")
        yes, no, error = self.records()
        self.assertEqual(
            {k: yes[k] for k in ("time", "iso", "url", "ad_id", "site_id", "result", "folder", "reason")},
            {
                "time": WHEN,
                "iso": "2026-11-24T09:05:03Z",
                "url": "http://pages.test/page.html",
                "ad_id": "IRISH_CSE",
                "site_id": "S1",
                "result": "yes",
                "folder": "2026-11-24-09-05-03",
                "reason": None,
            },
        )
        self.assertEqual(
            yes["images"],
            [
                {"file": "a.png", "url": "http://pages.test/img/a.png", "bytes": len(PNG_A),
                 "sha256": hashlib.sha256(PNG_A).hexdigest(), "linked_to": None},
                {"file": "b.png", "url": "http://pages.test/img/b.png", "bytes": len(PNG_B),
                 "sha256": hashlib.sha256(PNG_B).hexdigest(), "linked_to": None},
            ],
        )
        self.assertEqual(
            yes["failed_images"],
            [{"url": "http://pages.test/img/missing.png", "reason": "answered HTTP 404"}],
        )
        self.assertEqual(no["result"], "no")
        self.assertEqual((no["site_id"], no["folder"], no["time"]), ("S2", "2026-11-24-09-05-04", WHEN + 1.5))
        self.assertEqual((no["images"], no["failed_images"], no["reason"]), ([], [], None))
        self.assertEqual(error["result"], "error")
        self.assertIsNone(error["folder"])
        self.assertEqual(error["ad_id"], "AD2")
        self.assertEqual(error["reason"], "page http://pages.test/nothing-here.html answered HTTP 404")
        # and read back
        records = list(read_scans(self.logdir))
        self.assertEqual([r.result for r in records], ["yes", "no", "error"])
        self.assertEqual(records[0].images[1].file, "b.png")

    def test_unwritable_logdir_is_recorded(self) -> None:
        self.logdir.mkdir(parents=True)
        (self.logdir / "S1").write_text("a file where the site folder should be")
        self.scan("page.html")
        [record] = self.records()
        self.assertEqual(record["result"], "error")
        self.assertIsNone(record["folder"])
        self.assertIn("cannot create the log folder", record["reason"])

    def test_a_scan_log_that_cannot_be_written_does_not_fail_the_scan(self) -> None:
        self.logdir.mkdir(parents=True)
        (self.logdir / "_scans.jsonl").mkdir()  # a directory: cannot be appended to
        self.assertEqual(self.scan("page.html"), Found("S1", "2026-11-24-09-05-03"))
        errors = self.flushLoggedErrors()
        self.assertEqual(errors, [])


class SlowImagesTests(SynchronousTestCase):
    """Images still coming when the job's time is up are given up; the job still answers."""

    def scan_with_a_hanging_image(self) -> tuple["Deferred[Result]", StubTreq, Clock, Path]:
        """Start scanning a page whose second image never answers (job timeout 30 s)."""
        root = site()
        root.children[b"img"].putChild(b"slow.png", Hang())
        root.putChild(b"slow.html", Data(b"IRISH_CSE <img src=img/a.png><img src=img/slow.png>", "text/html"))
        logdir = Path(tempfile.mkdtemp(prefix="herd-scanner-"))
        self.addCleanup(shutil.rmtree, logdir)
        clock = Clock()
        clock.advance(WHEN)
        http = StubTreq(root)
        limits = FetchLimits(page_timeout=5, image_timeout=100, job_timeout=30)
        d = PageScanner(http, clock, logdir, limits).scan(
            CheckRequest("http://pages.test/slow.html", "IRISH_CSE", "S1")
        )
        http.flush()
        return d, http, clock, logdir

    def test_job_timeout_bounds_the_image_phase(self) -> None:
        d, http, clock, logdir = self.scan_with_a_hanging_image()
        self.assertNoResult(d)
        clock.advance(30)
        http.flush()
        result = self.successResultOf(d)
        self.assertEqual(result, Found("S1", "2026-11-24-09-05-03"))
        self.assertEqual([p.name for p in (logdir / "S1" / result.folder).iterdir()], ["a.png"])

    def test_given_up_images_are_recorded(self) -> None:
        d, http, clock, logdir = self.scan_with_a_hanging_image()
        clock.advance(30)
        http.flush()
        self.successResultOf(d)
        [record] = read_scans(logdir)
        self.assertEqual(record.result, "yes")
        self.assertEqual([i.file for i in record.images], ["a.png"])
        self.assertEqual(
            [(f.url, f.reason) for f in record.failed_images],
            [("http://pages.test/img/slow.png", "not saved within the job's 30 s")],
        )
        self.assertEqual(record.seconds, 30)

    def test_cancelled_job_is_recorded(self) -> None:
        root = site()
        root.children[b"img"].putChild(b"slow.png", Hang())
        root.putChild(b"slow.html", Data(b"IRISH_CSE <img src=img/a.png><img src=img/slow.png>", "text/html"))
        logdir = Path(tempfile.mkdtemp(prefix="herd-scanner-"))
        self.addCleanup(shutil.rmtree, logdir)
        clock = Clock()
        clock.advance(WHEN)
        http = StubTreq(root)
        d = PageScanner(http, clock, logdir, FetchLimits(image_timeout=100)).scan(
            CheckRequest("http://pages.test/slow.html", "IRISH_CSE", "S1")
        )
        http.flush()
        d.cancel()  # the orchestrator hung up
        # the images given up, the scan still ends with its result (nobody reads it now)
        self.assertEqual(self.successResultOf(d), Found("S1", "2026-11-24-09-05-03"))
        [record] = read_scans(logdir)
        self.assertEqual(record.result, "yes")
        self.assertEqual([i.file for i in record.images], ["a.png"])
        self.assertEqual(len(record.failed_images), 1)
        self.assertTrue(record.failed_images[0].reason.startswith("cancelled"))
        self.assertEqual(clock.getDelayedCalls(), [])
