"""The worker's job: fetch a page, look for the ad string, save the page's images."""

from __future__ import annotations

from pathlib import Path

from attrs import frozen
from treq.client import HTTPClient
from twisted.internet.defer import Deferred, DeferredSemaphore, TimeoutError, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from herd.protocols.scan import CheckRequest
from herd.protocols.scan_replies import Failed, Found, NotFound, Result
from herd.scan.fetch import FetchError, fetch
from herd.scan.images import image_urls
from herd.scan.logdir import claim_scan_folder, image_file_name, write_file


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


class PageScanner:
    """Scan pages for an ad string and log their images under ``logdir``."""

    log = Logger()

    def __init__(
        self,
        http: HTTPClient,
        clock: IReactorTime,
        logdir: Path,
        limits: FetchLimits = FetchLimits(),
    ) -> None:
        self._http = http
        self._clock = clock
        self.logdir = Path(logdir)
        self.limits = limits
        self._image_slots = DeferredSemaphore(limits.parallel_images)

    def scan(self, request: CheckRequest) -> Deferred[Result]:
        """Do one CHECK job; always fires with a Result, never fails."""
        return Deferred.fromCoroutine(self._scan(request))

    async def _scan(self, request: CheckRequest) -> Result:
        limits = self.limits
        started = self._clock.seconds()
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
        taken: set[str] = set()
        names = [image_file_name(url, i, taken) for i, url in enumerate(urls, 1)]
        images = gatherResults(
            [self._save_image(url, folder / name) for url, name in zip(urls, names)],
            consumeErrors=True,
        )
        left = max(0.0, limits.job_timeout - (self._clock.seconds() - started))
        try:
            await images.addTimeout(left, self._clock)
        except TimeoutError:
            self.log.warn(
                "{url}: images not all saved within the job's {limit:g} s; gave up the rest",
                url=request.url,
                limit=limits.job_timeout,
            )
        return Found(request.site_id, folder.name)

    def _save_image(self, url: str, path: Path) -> Deferred[None]:
        return self._image_slots.run(lambda: Deferred.fromCoroutine(self._fetch_image(url, path)))

    async def _fetch_image(self, url: str, path: Path) -> None:
        limits = self.limits
        try:
            image = await fetch(self._http, url, limits.image_bytes, limits.image_timeout, self._clock)
            write_file(path, image.body)
        except (FetchError, OSError) as error:
            self.log.warn("image {url} {reason}: not saved", url=url, reason=str(error))
        else:
            self.log.info("saved {url} as {path} ({size} bytes)", url=url, path=str(path), size=len(image.body))
