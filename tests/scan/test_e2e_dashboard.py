"""The dashboard in a real browser: Debian's headless chromium, driven by Selenium.

A real pool on loopback (``twistd web`` demo site, ``twistd -n orchestrator
--dashboard-port``, two workers through ``bin/launch-workers``), CHECKs over UDP, and a
look at what a person sees: the workers and their states, the queue, hits with their
thumbnails, a new hit appearing without a reload, and the warning once the orchestrator
is gone. Skipped when ``/usr/bin/chromium`` or ``/usr/bin/chromedriver`` is missing
(``make test`` installs them).
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, wait_for
from herd.scan.cli.udp_client import ask
from herd.scan.demosite import DemoPage
from herd.testing.scan import start_orchestrator, start_web, start_workers

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.skip(f"{path} is missing: install Debian's chromium and chromium-driver "
                        "(`make browser`, as root) to run the dashboard's browser test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1280,1400", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(tmp_path / "processes") as processes:
        yield processes


def api_pool(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/api/pool", timeout=5) as answer:
        return json.loads(answer.read())


def check(orch_port: int, base: str, page: DemoPage, site_id: str = "", ad_id: str = "") -> None:
    line = f"CHECK {page.url(base)} {ad_id or page.ad_id} {site_id or page.site_id}".encode()
    reply = ask(LOOPBACK, orch_port, line, 5.0)
    assert reply.startswith(b"200 OK"), reply


def test_dashboard_in_a_browser(browser: Any, group: ProcessGroup, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, _, pages = start_web(group, tmp_path)
    orch_port, dash_port = free_port(socket.SOCK_DGRAM), free_port()
    logs = tmp_path / "logs"
    start_orchestrator(group, orch_port, "--dashboard-port", str(dash_port), "--logs-root", str(logs),
                       "--db", str(tmp_path / "orchestrator.sqlite"), "--max-attempts", "2")
    ports = start_workers(group, orch_port, 2, logs)
    worker_ids = [f"worker-{p}" for p in ports]

    found = [p for p in pages if p.found and p.images][:3]
    scans = [*found, next(p for p in pages if not p.found)]
    for page in scans:
        check(orch_port, base, page)
    wait_for(lambda: sum(api_pool(dash_port)["results"].values()) >= len(scans), 60,
             "every CHECK to finish")

    with urllib.request.urlopen(f"http://{LOOPBACK}:{dash_port}/metrics", timeout=5) as answer:
        metrics = answer.read().decode()
    for sample in (f"herd_scan_checks_acked_total {len(scans)}.0", "herd_scan_queue_depth 0.0",
                   f'herd_scan_jobs_finished_total{{result="yes"}} {len(found)}.0',
                   'herd_scan_jobs_finished_total{result="no"} 1.0',
                   f"herd_scan_dispatch_latency_seconds_count {len(scans)}.0"):
        assert sample in metrics.splitlines(), (sample, metrics)
    assert sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("herd_scan_workers{")) == 2

    browser.get(f"http://{LOOPBACK}:{dash_port}/")
    wait = WebDriverWait(browser, 15, poll_frequency=0.2)
    rows = wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#workers tbody tr")) == 2
                      and b.find_elements(By.CSS_SELECTOR, "#workers tbody tr"))
    assert sorted(r.get_attribute("data-worker-id") for r in rows) == worker_ids
    for row in rows:
        badge = row.find_element(By.CSS_SELECTOR, ".state .badge")
        assert badge.text in ("idle", "busy"), badge.text
        assert f"state-{badge.text}" in badge.get_attribute("class")
        assert badge.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
        assert row.find_element(By.CSS_SELECTOR, ".addr").text.startswith(f"{LOOPBACK}:")
        assert row.find_element(By.CSS_SELECTOR, ".last-sent").get_attribute("title").endswith("UTC")
    assert sum(int(r.find_element(By.CSS_SELECTOR, ".done").text) for r in rows) == len(scans)
    assert browser.find_element(By.ID, "queue-depth").text == "0"
    assert browser.find_element(By.ID, "running").text == "0"
    yes = browser.find_element(By.CSS_SELECTOR, '#results [data-kind="yes"]').text
    assert yes == f"yes: {len(found)}"
    assert browser.find_element(By.ID, "updated").text != "never"
    assert not browser.find_element(By.ID, "error").is_displayed()

    hits = browser.find_elements(By.CSS_SELECTOR, "#hits .hit[data-job-id]")
    assert sorted(h.find_element(By.CSS_SELECTOR, ".site").text for h in hits) == sorted(
        p.site_id for p in found)
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('#hits .thumbs img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length") > 0)
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#hits .thumbs img')].map(i => i.naturalWidth)")
    assert len(shown) == sum(len(p.images) for p in found) and all(w > 0 for w in shown), shown
    assert browser.find_element(By.CSS_SELECTOR, "#dead tbody").text == ""
    assert browser.find_element(By.ID, "dead-empty").is_displayed()

    browser.execute_script("window.notReloaded = true")
    check(orch_port, base, found[0], "LIVE1")
    live = wait.until(lambda b: [h for h in b.find_elements(By.CSS_SELECTOR, "#hits .hit")
                                 if h.find_element(By.CSS_SELECTOR, ".site").text == "LIVE1"])
    assert browser.execute_script("return window.notReloaded") is True
    first = browser.find_element(By.CSS_SELECTOR, "#hits .hit")
    assert first.find_element(By.CSS_SELECTOR, ".site").text == "LIVE1"  # newest first
    assert live[0].find_element(By.CSS_SELECTOR, ".url").get_attribute("href") == found[0].url(base)
    wait.until(lambda b: b.execute_script(
        "const h = document.querySelector('#hits .hit'); return h.querySelectorAll('img').length"
        " > 0 && [...h.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)"))
    browser.save_screenshot(str(tmp_path / "dashboard.png"))

    group.stop("launch-workers")  # both workers gone: the next job dies, the one after waits
    markup = "<img/src=x/onerror=window.pwned=1>"  # a legal AdID: shown as text, never run
    check(orch_port, base, found[0], "DEAD1", markup)
    dead = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#dead tbody tr[data-job-id]"))
    cells = {c.get_attribute("class"): c.text for c in dead[0].find_elements(By.TAG_NAME, "td")}
    assert (cells["site"], cells["ad"], cells["url"], cells["attempts"]) == (
        "DEAD1", markup, found[0].url(base), "2")
    assert browser.execute_script("return document.querySelectorAll('#dead img').length") == 0
    assert browser.execute_script("return window.pwned") is None
    assert "no worker answered" in cells["reason"]
    check(orch_port, base, found[0], "WAIT1")
    wait.until(lambda b: b.find_element(By.ID, "queue-depth").text == "1")
    badges = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#workers .badge")]
    assert len(badges) == 2 and set(badges) <= {"unreachable", "dead"}, badges
    assert browser.find_element(By.CSS_SELECTOR, '#results [data-kind="dead"]').text == "dead: 1"
    browser.save_screenshot(str(tmp_path / "dashboard-no-workers.png"))

    group.stop("orchestrator")
    error = wait.until(lambda b: b.find_element(By.ID, "error").is_displayed()
                       and b.find_element(By.ID, "error"))
    assert "does not answer" in error.text
    assert browser.find_element(By.CSS_SELECTOR, '#hits .hit .site').text == "LIVE1"  # kept
    browser.save_screenshot(str(tmp_path / "dashboard-down.png"))
