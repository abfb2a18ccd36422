"""The anchors' side of ``scan_vs_anchors.py``: the same job done by Celery and by Scrapy.

Run by ``scan_vs_anchors.py`` with the anchors' own Python (a virtual environment holding
celery, redis, requests and scrapy, never herd's), so it imports nothing from herd:

    python scan_anchors_jobs.py celery-app            (imported by ``celery -A``: the task)
    python scan_anchors_jobs.py celery BROKER BASE AD JOBS OUT
    python scan_anchors_jobs.py scrapy BASE AD JOBS OUT CONCURRENT

The job, as herd's worker does it: fetch ``BASE/p/<i>.html``, look for AD in it, save
every ``<img src>`` of a page that has it into ``OUT/S<i>/``. The last line printed is a
JSON object: ``seconds`` from the first job sent to the last one done, ``yes``, ``no``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from urllib.parse import urljoin

IMG = re.compile(rb"""<img[^>]*\ssrc=["']?([^"'\s>]+)""", re.IGNORECASE)

# -- Celery: the task (module imported by the worker as ``scan_anchors_jobs``) ---------------

if os.environ.get("HERD_BENCH_BROKER"):
    import requests
    from celery import Celery

    app = Celery("scan_anchors_jobs", broker=os.environ["HERD_BENCH_BROKER"],
                 backend=os.environ["HERD_BENCH_BROKER"])
    app.conf.update(worker_hijack_root_logger=False, task_ignore_result=False,
                    result_expires=600, broker_connection_retry_on_startup=True)
    _session: "requests.Session | None" = None

    @app.task(name="scan")
    def scan(url: str, ad: str, out: str) -> str:
        """Fetch the page, search it, save its images (one HTTP session per process)."""
        global _session
        if _session is None:
            _session = requests.Session()
        page = _session.get(url, timeout=15).content
        if ad.encode() not in page:
            return "no"
        os.makedirs(out, exist_ok=True)
        for index, src in enumerate(IMG.findall(page)):
            image = _session.get(urljoin(url, src.decode()), timeout=15)
            image.raise_for_status()
            name = f"{index}-{os.path.basename(src.decode())}"
            with open(os.path.join(out, name), "wb") as file:
                file.write(image.content)
        return "yes"


def run_celery(broker: str, base: str, ad: str, jobs: int, out: str) -> dict:
    """Wait for a worker, send every job, wait for every result."""
    for _ in range(300):
        if app.control.ping(timeout=0.5):
            break
    else:
        raise SystemExit("no Celery worker answered a ping")
    start = time.perf_counter()
    results = [scan.delay(f"{base}/p/{i}.html", ad, os.path.join(out, f"S{i}"))
               for i in range(jobs)]
    outcomes = [r.get(timeout=300) for r in results]
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "yes": outcomes.count("yes"), "no": outcomes.count("no")}


# -- Scrapy ------------------------------------------------------------------------------------

def run_scrapy(base: str, ad: str, jobs: int, out: str, concurrent: int) -> dict:
    """One Scrapy process; settings a user picks for speed on one site."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    times: dict[str, float] = {}
    counts = {"yes": 0, "no": 0}

    class Scan(scrapy.Spider):
        name = "scan"

        async def start(self):  # type: ignore[no-untyped-def]
            times["start"] = time.perf_counter()
            for i in range(jobs):
                yield scrapy.Request(f"{base}/p/{i}.html", cb_kwargs={"i": i}, dont_filter=True)

        def parse(self, response, i):  # type: ignore[no-untyped-def]
            if ad.encode() not in response.body:
                counts["no"] += 1
                return
            counts["yes"] += 1
            for index, src in enumerate(IMG.findall(response.body)):
                yield response.follow(src.decode(), self.save, dont_filter=True,
                                      cb_kwargs={"i": i, "index": index})

        def save(self, response, i, index):  # type: ignore[no-untyped-def]
            folder = os.path.join(out, f"S{i}")
            os.makedirs(folder, exist_ok=True)
            name = f"{index}-{os.path.basename(response.url)}"
            with open(os.path.join(folder, name), "wb") as file:
                file.write(response.body)

        def closed(self, reason):  # type: ignore[no-untyped-def]
            times["end"] = time.perf_counter()

    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": concurrent, "CONCURRENT_REQUESTS_PER_DOMAIN": concurrent,
        "ROBOTSTXT_OBEY": False, "LOG_LEVEL": os.environ.get("HERD_BENCH_SCRAPY_LOG", "WARNING"), "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False, "RETRY_ENABLED": False, "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
    })
    process.crawl(Scan)
    process.start()
    return {"seconds": times["end"] - times["start"], **counts}


def main() -> None:
    what, *args = sys.argv[1:]
    if what == "celery":
        broker, base, ad, jobs, out = args
        result = run_celery(broker, base, ad, int(jobs), out)
    elif what == "scrapy":
        base, ad, jobs, out, concurrent = args
        result = run_scrapy(base, ad, int(jobs), out, int(concurrent))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
