"""The worker's job: fetch a page, look for the ad string, save the page's images.

Images go through an ImageStore: bytes already saved in LOGDIR are hard-linked to their
first copy instead of written again (``dedup=False`` writes every copy). Every scan, hit or
not, failed or not, is appended to ``LOGDIR/_scans.jsonl`` (see herd.scan.worker.scanlog).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from attrs import frozen
from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred, DeferredList, DeferredSemaphore
from twisted.internet.interfaces import IReactorTime

from herd.protocols.scan import CheckRequest
from herd.protocols.scan_replies import Failed, Found, NotFound, Result
from herd.core.fetch import FetchError, fetch
from herd.core.loglevel import LevelLogger
from herd.scan.worker.images import image_urls
from herd.scan.worker.imagestore import ImageStore, SavedImage, human_bytes
from herd.scan.worker.logdir import claim_scan_folder, image_file_name
from herd.scan.worker.scanlog import FailedImage, ImageRecord, ScanLog, ScanRecord


THREAD_MIN_BYTES = 256 * 1024
"""Images from this size up are hashed and written in a thread (with ``in_thread``);
smaller ones take less time on the reactor than a trip to a thread and back."""


@frozen
class FetchLimits:
    """What a worker is willing to download for one job."""

    page_bytes: int = 5 * 1024 * 1024
    image_bytes: int = 10 * 1024 * 1024
    images_per_page: int = 100
    page_timeout: float = 15.0
    image_timeout: float = 15.0
    parallel_images: int = 8
    job_timeout: float = 45.0
    """The whole job, images included: images not saved by then are given up."""


class _Job:
    """What one scan has done so far, for its scan record."""

    def __init__(self, request: CheckRequest, started: float) -> None:
        self.request = request
        self.started = started
        self.folder: Optional[Path] = None
        self.urls: list[str] = []
        self.saved: dict[int, tuple[str, SavedImage]] = {}
        self.failed: dict[int, tuple[str, str]] = {}
        self.given_up: Optional[str] = None
        """Why the images still coming are not saved (job timeout, cancelled), once so."""


class PageScanner:
    """Scan pages for an ad string and log their images under ``logdir``.

    ``in_thread(f, *args)``: run ``f`` in a thread pool and return a Deferred of its result
    (the worker passes the reactor's pool); images are then hashed and written there.
    Without it they are hashed and written on the calling thread.
    """

    log = LevelLogger()

    def __init__(
        self,
        http: HTTPClient,
        clock: IReactorTime,
        logdir: Path,
        limits: FetchLimits = FetchLimits(),
        *,
        dedup: bool = True,
        in_thread: Optional[Callable[..., "Deferred[Any]"]] = None,
    ) -> None:
        self._http = http
        self._in_thread = in_thread
        self._clock = clock
        self.logdir = Path(logdir)
        self.limits = limits
        self._image_slots = DeferredSemaphore(limits.parallel_images)
        self.images = ImageStore(self.logdir, enabled=dedup)
        self.scans = ScanLog(self.logdir)

    def scan(self, request: CheckRequest) -> Deferred[Result]:
        """Do one CHECK job; always fires with a Result, never fails."""
        return Deferred.fromCoroutine(self._scan(request))

    async def _scan(self, request: CheckRequest) -> Result:
        job = _Job(request, self._clock.seconds())
        try:
            result = await self._run(job)
        except CancelledError:
            self._record(job, Failed("cancelled: the client left before the answer"))
            raise
        except Exception as error:
            self._record(job, Failed(f"internal error in the worker: {type(error).__name__}: {error}"))
            raise
        self._record(job, result)
        return result

    async def _run(self, job: _Job) -> Result:
        request = job.request
        limits = self.limits
        try:
            page = await fetch(
                self._http, request.url, limits.page_bytes, limits.page_timeout, self._clock
            )
        except FetchError as error:
            return Failed(f"page {request.url} {error}")
        try:
            folder = claim_scan_folder(self.logdir, request.site_id, self._clock.seconds())
        except OSError as error:
            self.log.error("cannot create a scan folder: {error}", error=error)
            return Failed(f"cannot create the log folder: {error.strerror or error}")
        job.folder = folder
        if request.ad_id.encode("ascii") not in page.body:
            return NotFound()
        urls = image_urls(page.body, page.url)
        if len(urls) > limits.images_per_page:
            self.log.warn(
                "{url} references {count} images; saving the first {limit}",
                url=request.url,
                count=len(urls),
                limit=limits.images_per_page,
            )
            urls = urls[: limits.images_per_page]
        job.urls = urls
        taken: set[str] = set()
        names = [image_file_name(url, i, taken) for i, url in enumerate(urls, 1)]
        await self._save_images(job, [folder / name for name in names])
        return Found(request.site_id, folder.name)

    async def _save_images(self, job: _Job, paths: list[Path]) -> None:
        """Fetch and save the job's images until they are all done or the job's time is up."""
        limits = self.limits
        images = DeferredList(
            [self._save_image(job, i, url, path) for i, (url, path) in enumerate(zip(job.urls, paths))],
            consumeErrors=True,
        )
        finished: Deferred[None] = Deferred(lambda _: give_up("cancelled: the client left before the answer"))

        def done(_: object) -> None:
            if not finished.called:
                finished.callback(None)

        def give_up(reason: str) -> None:
            if job.given_up is None:
                job.given_up = reason
                images.cancel()  # fires ``images``, hence ``finished``, once all are cancelled

        def time_up() -> None:
            if len(job.saved) + len(job.failed) < len(job.urls):
                self.log.warn(
                    "{url}: images not all saved within the job's {limit:g} s; gave up the rest",
                    url=job.request.url,
                    limit=limits.job_timeout,
                )
            give_up(f"not saved within the job's {limits.job_timeout:g} s")
            done(None)

        images.addBoth(done)
        left = max(0.0, limits.job_timeout - (self._clock.seconds() - job.started))
        timer = self._clock.callLater(left, time_up)
        try:
            await finished
        except CancelledError:
            pass
        finally:
            if timer.active():
                timer.cancel()
        job.given_up = job.given_up or "not saved"  # late arrivals are dropped from now on
        for index, url in enumerate(job.urls):
            if index not in job.saved and index not in job.failed:
                job.failed[index] = (url, job.given_up)

    def _save_image(self, job: _Job, index: int, url: str, path: Path) -> Deferred[None]:
        return self._image_slots.run(
            lambda: Deferred.fromCoroutine(self._fetch_image(job, index, url, path))
        )

    async def _fetch_image(self, job: _Job, index: int, url: str, path: Path) -> None:
        limits = self.limits
        if job.given_up is not None:
            return
        try:
            image = await fetch(self._http, url, limits.image_bytes, limits.image_timeout, self._clock)
            if job.given_up is not None:
                return  # the job is over: its record is written, leave its folder alone
            if self._in_thread is None or len(image.body) < THREAD_MIN_BYTES:
                saved = self.images.save(path, image.body)
            else:  # hashing and writing 2 MB takes milliseconds: off the reactor thread
                saved = await self.images.save_in_thread(path, image.body, self._in_thread)
                if job.given_up is not None:
                    return  # saved after the job's record was written: not listed in it
        except (FetchError, OSError) as error:
            reason = job.given_up or (
                str(error) if isinstance(error, FetchError) else (error.strerror or str(error))
            )
            job.failed[index] = (url, reason)
            self.log.warn("image {url} {reason}: not saved", url=url, reason=reason)
            return
        job.saved[index] = (url, saved)
        linked = ": {link} link to {linked_to}, nothing written" if saved.linked else ""
        self.log.debug(
            "saved {url} as {path} ({size} bytes)" + linked,
            url=url,
            path=str(path),
            size=saved.size,
            link=saved.link,
            linked_to=saved.linked_to,
            sha256=saved.sha256,
        )

    def _record(self, job: _Job, result: Result) -> None:
        """Append the scan's record to ``_scans.jsonl``; a failure is logged, not raised."""
        request = job.request
        if isinstance(result, Found):
            outcome, reason = "yes", None
        elif isinstance(result, NotFound):
            outcome, reason = "no", None
        else:
            outcome, reason = "error", result.reason
        images = [
            ImageRecord(saved.path.name, url, saved.size, saved.sha256, saved.linked_to)
            for url, saved in (job.saved[i] for i in sorted(job.saved))
        ]
        failed = [FailedImage(url, why) for url, why in (job.failed[i] for i in sorted(job.failed))]
        record = ScanRecord(
            time=job.started,
            url=request.url,
            ad_id=request.ad_id,
            site_id=request.site_id,
            result=outcome,
            folder=job.folder.name if job.folder is not None else None,
            reason=reason,
            seconds=round(self._clock.seconds() - job.started, 6),
            images=images,
            failed_images=failed,
        )
        try:
            self.scans.append(record)
        except OSError as error:
            self.log.error(
                "cannot append to the scan log {path}: {error}",
                path=str(self.scans.path),
                error=error.strerror or str(error),
            )
        if outcome == "yes":
            linked = [image for image in images if image.linked]
            self.log.debug(
                "{site_id}/{folder}: {count} image(s) saved, {linked} linked "
                "({linked_size} not written; {total} saved by de-duplication so far)",
                site_id=request.site_id,
                folder=record.folder,
                count=len(images),
                linked=len(linked),
                linked_size=human_bytes(record.linked_bytes),
                total=human_bytes(self.images.stats().bytes_saved),
                failed=len(failed),
            )
