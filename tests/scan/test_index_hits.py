"""``index-hits``: hits from workers' log directories, filtered, as a table, CSV or JSON."""

from __future__ import annotations

import calendar
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.static import Data

from herd.protocols.scan import CheckRequest
from herd.scan.cli.index_hits import main
from herd.scan.worker.hitindex import parse_time
from herd.scan.worker.scanlog import ImageRecord, ScanLog, ScanRecord
from herd.scan.worker.scanner import FetchLimits, PageScanner

ROOT = Path(__file__).resolve().parent.parent.parent
T0 = float(calendar.timegm((2026, 11, 24, 9, 5, 3)))  # 2026-11-24T09:05:03Z
PNG_A = b"\x89PNG\r\n\x1a\n" + b"A" * 300
PNG_B = b"\x89PNG\r\n\x1a\n" + b"B" * 500


def folder_of(when: float) -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(when))


def record(
    logdir: Path,
    when: float,
    site: str,
    ad: str = "IRISH_CSE",
    result: str = "yes",
    images: tuple[tuple[str, int, Optional[str]], ...] = (("a.png", 300, None),),
    reason: Optional[str] = None,
) -> None:
    """Append a hand-written scan record (and create its folder) in ``logdir``."""
    folder = None
    if result != "error":
        folder = folder_of(when)
        (logdir / site / folder).mkdir(parents=True, exist_ok=True)
    ScanLog(logdir).append(
        ScanRecord(
            time=when,
            url=f"http://pages.test/{site}.html",
            ad_id=ad,
            site_id=site,
            result=result,
            folder=folder,
            reason=reason,
            images=[ImageRecord(name, f"http://pages.test/{name}", size, "0" * 64, linked)
                    for name, size, linked in images] if result == "yes" else [],
        )
    )


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two workers under logs/: w1 has two hits, a no and an error; w2 has one hit."""
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    w1, w2 = logs / "worker-54001", logs / "worker-54002"
    w1.mkdir(parents=True)
    w2.mkdir(parents=True)
    record(w1, T0, "S1")
    record(w1, T0 + 60, "S2", ad="OTHER_AD", images=(("a.png", 300, "S1/2026-11-24-09-05-03/a.png"),
                                                       ("b.png", 2000, None)))
    record(w1, T0 + 120, "S1", result="no")
    record(w1, T0 + 180, "S3", result="error", reason="page http://pages.test/S3.html answered HTTP 404")
    record(w2, T0 + 86400, "S1")
    return logs


def run(capsys: pytest.CaptureFixture[str], *argv: str, now: Optional[float] = None) -> tuple[int, str, str]:
    code = main(list(argv), now=now)
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[list[str]]:
    """The table's data lines, split on runs of two spaces (cells have single spaces)."""
    lines = out.splitlines()[1:-1]  # header, summary
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines]


# -- the table ---------------------------------------------------------------------------


def test_table_lists_hits_newest_first(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "logs")
    assert (code, err) == (0, "")
    header = out.splitlines()[0].split()
    assert header[:2] == ["time", "(UTC)"] and header[2:] == ["worker", "site", "ad", "images", "folder"]
    assert table_rows(out) == [
        ["2026-11-25T09:05:03Z", "worker-54002", "S1", "IRISH_CSE", "1",
         "logs/worker-54002/S1/2026-11-25-09-05-03"],
        ["2026-11-24T09:06:03Z", "worker-54001", "S2", "OTHER_AD", "2 (1 linked)",
         "logs/worker-54001/S2/2026-11-24-09-06-03"],
        ["2026-11-24T09:05:03Z", "worker-54001", "S1", "IRISH_CSE", "1",
         "logs/worker-54001/S1/2026-11-24-09-05-03"],
    ]
    assert out.splitlines()[-1] == (
        "3 hit(s) from 2 worker(s); 4 image(s), 1 linked; 300 B saved by de-duplication"
    )


def test_all_lists_no_and_error_too(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "logs", "--all")
    assert code == 0
    assert out.splitlines()[0].split()[-5:] == ["result", "images", "folder", "or", "reason"]
    rows = table_rows(out)
    assert [row[4] for row in rows] == ["yes", "error", "no", "yes", "yes"]
    assert rows[1][-1] == "page http://pages.test/S3.html answered HTTP 404"
    assert rows[1][5] == "-"
    assert rows[2][-1] == "logs/worker-54001/S1/2026-11-24-09-07-03"
    assert out.splitlines()[-1].startswith("5 scan(s): 3 yes, 1 no, 1 error from 2 worker(s)")


def test_no_hits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w1").mkdir()
    code, out, _ = run(capsys, str(tmp_path / "w1"))
    assert (code, out) == (0, "no hits found in 1 worker log directory\n")


def test_folders_outside_the_working_directory_are_absolute(
    logs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(logs / "worker-54002")
    _, out, _ = run(capsys, str(logs / "worker-54001"), "--site", "S1")
    assert table_rows(out)[0][-1] == str(logs / "worker-54001" / "S1" / "2026-11-24-09-05-03")
    _, out, _ = run(capsys, ".", "--format", "json")
    [hit] = json.loads(out)
    assert hit["worker"] == "worker-54002"  # the directory's own name, even for "."
    assert hit["folder"] == "S1/2026-11-25-09-05-03"


# -- filters -----------------------------------------------------------------------------


def sites(out: str) -> list[str]:
    return [(hit["worker"], hit["site"]) for hit in json.loads(out)]


def test_filter_by_site_ad_worker(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sites(run(capsys, "logs", "--format", "json", "--site", "S1")[1]) == [
        ("worker-54002", "S1"), ("worker-54001", "S1")]
    assert sites(run(capsys, "logs", "--format", "json", "--site", "S1", "--site", "S2")[1]) == [
        ("worker-54002", "S1"), ("worker-54001", "S2"), ("worker-54001", "S1")]
    assert sites(run(capsys, "logs", "--format", "json", "--ad", "OTHER_AD")[1]) == [("worker-54001", "S2")]
    assert sites(run(capsys, "logs", "--format", "json", "--worker", "worker-54002")[1]) == [
        ("worker-54002", "S1")]
    assert sites(run(capsys, "logs", "--format", "json", "--worker", "*54001", "--ad", "IRISH*")[1]) == [
        ("worker-54001", "S1")]
    assert sites(run(capsys, "logs", "--format", "json", "--site", "nope")[1]) == []


def test_filter_by_time_range(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def between(*argv: str) -> list[str]:
        code, out, err = run(capsys, "logs", "--format", "json", *argv, now=T0 + 86400 + 30)
        assert (code, err) == (0, "")
        return [hit["time"] for hit in json.loads(out)]

    assert between("--since", "2026-11-24T09:06:00Z") == ["2026-11-25T09:05:03Z", "2026-11-24T09:06:03Z"]
    assert between("--until", "2026-11-24T09:06:03") == ["2026-11-24T09:06:03Z", "2026-11-24T09:05:03Z"]
    # a day (or a minute) given alone covers the whole day (minute)
    assert between("--since", "2026-11-24", "--until", "2026-11-24") == [
        "2026-11-24T09:06:03Z", "2026-11-24T09:05:03Z"]
    assert between("--until", "2026-11-24T09:05") == ["2026-11-24T09:05:03Z"]
    assert between("--since", "2026-11-25") == ["2026-11-25T09:05:03Z"]
    # relative to now, separate or joined
    assert between("--since", "-10m") == ["2026-11-25T09:05:03Z"]
    assert between("--since=-2d", "--until", "-1h") == ["2026-11-24T09:06:03Z", "2026-11-24T09:05:03Z"]
    # an offset
    assert between("--since", "2026-11-24T10:06:00+01:00", "--until", "2026-11-24") == [
        "2026-11-24T09:06:03Z"]


def test_parse_time() -> None:
    assert parse_time("2026-11-24T09:05:03Z", 0).start == T0
    assert parse_time("2026-11-24t09:05:03z", 0).start == T0
    assert parse_time("2026-11-24 09:05:03", 0).start == T0
    assert parse_time("2026-11-24T09:05:03.5Z", 0).start == T0 + 0.5
    assert (parse_time("2026-11-24", 0).start, parse_time("2026-11-24", 0).span) == (T0 - 32703, 86400)
    assert parse_time("-90s", 1000).start == 910
    assert parse_time("-2h", 10000).start == 10000 - 7200
    assert parse_time("-1w", 10**6).start == 10**6 - 7 * 86400


# -- formats -----------------------------------------------------------------------------


def test_csv(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "logs", "--format", "csv", "--all")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0].startswith("time,epoch,worker,site,ad,result,url,folder,images,linked")
    assert len(rows) == 5
    assert rows[1]["result"] == "error" and rows[1]["folder"] == "" and "HTTP 404" in rows[1]["reason"]
    assert (rows[3]["site"], rows[3]["images"], rows[3]["linked"], rows[3]["bytes_saved"]) == ("S2", "2", "1", "300")
    assert float(rows[0]["epoch"]) == T0 + 86400


def test_csv_with_no_hits_is_a_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(tmp_path), "--format", "csv")
    assert code == 0 and out.count("\n") == 1 and out.startswith("time,")


def test_json(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "logs", "--format", "json", "--limit", "2")
    assert code == 0
    hits = json.loads(out)
    assert len(hits) == 2
    assert hits[1] == {
        "time": "2026-11-24T09:06:03Z",
        "epoch": T0 + 60,
        "worker": "worker-54001",
        "site": "S2",
        "ad": "OTHER_AD",
        "result": "yes",
        "url": "http://pages.test/S2.html",
        "folder": "logs/worker-54001/S2/2026-11-24-09-06-03",
        "images": 2,
        "linked": 1,
        "bytes_saved": 300,
        "reason": None,
    }


def test_limit_is_said_in_the_summary(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "logs", "--limit", "1")
    assert len(table_rows(out)) == 1
    assert out.splitlines()[-1].startswith("1 hit(s) (the newest 1 of 3) from 1 worker(s)")


# -- which directories -------------------------------------------------------------------


def test_worker_dirs_and_parent_dirs(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = sites(run(capsys, "logs/worker-54001", "--format", "json")[1])
    assert one == [("worker-54001", "S2"), ("worker-54001", "S1")]
    both = sites(run(capsys, "logs/worker-54002", "logs/worker-54001", "--format", "json")[1])
    assert both == sites(run(capsys, "logs", "--format", "json")[1])
    # the same worker twice (directly and through its parent) is listed once
    again = sites(run(capsys, "logs", "logs/worker-54001", "--format", "json")[1])
    assert again == both


def test_older_worker_without_a_scan_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "logs" / "w-old"
    hit = old / "S1" / "2026-11-24-09-05-03"
    hit.mkdir(parents=True)
    (hit / "a.png").write_bytes(PNG_A)
    (hit / "b.png").write_bytes(PNG_B)
    again = old / "S1" / "2026-11-24-10-00-00-2"
    again.mkdir()
    os.link(hit / "a.png", again / "a.png")  # de-duplicated, but without a scan log
    (old / "S2" / "2026-11-24-09-30-00").mkdir(parents=True)  # a NO (or all images failed)
    (old / "S2" / "not-a-scan").mkdir()
    (old / "_worker.log").write_text("twistd's log\n")
    record(tmp_path / "logs" / "w-new", T0 + 7200, "S9")  # a new worker beside it
    code, out, _ = run(capsys, "logs")
    assert code == 0
    assert table_rows(out) == [
        ["2026-11-24T11:05:03Z", "w-new", "S9", "IRISH_CSE", "1", "logs/w-new/S9/2026-11-24-11-05-03"],
        ["2026-11-24T10:00:00Z", "w-old", "S1", "?", "1 (1 linked)", "logs/w-old/S1/2026-11-24-10-00-00-2"],
        ["2026-11-24T09:05:03Z", "w-old", "S1", "?", "2", "logs/w-old/S1/2026-11-24-09-05-03"],
    ]
    assert out.splitlines()[-1].endswith(f"4 image(s), 1 linked; {len(PNG_A)} B saved by de-duplication")
    _, out, _ = run(capsys, "logs/w-old", "--all", "--format", "json")
    assert [(h["site"], h["result"], h["ad"]) for h in json.loads(out)] == [
        ("S1", "yes", None), ("S2", "unknown", None), ("S1", "yes", None)]
    # an unknown ad string never matches an --ad filter
    assert json.loads(run(capsys, "logs", "--ad", "IRISH_CSE", "--format", "json")[1])[0]["worker"] == "w-new"
    assert len(json.loads(run(capsys, "logs", "--ad", "IRISH_CSE", "--format", "json")[1])) == 1


def test_older_worker_given_directly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "w-old"
    (old / "S1" / "2026-11-24-09-05-03").mkdir(parents=True)
    (old / "S1" / "2026-11-24-09-05-03" / "a.png").write_bytes(PNG_A)
    code, out, _ = run(capsys, str(old), "--format", "json")
    assert [(h["worker"], h["site"], h["images"]) for h in json.loads(out)] == [("w-old", "S1", 1)]


def test_folders_from_before_the_scan_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    worker = tmp_path / "w1"
    before = worker / "S1" / "2026-11-23-08-00-00"
    before.mkdir(parents=True)
    (before / "a.png").write_bytes(PNG_A)
    record(worker, T0, "S1")
    (worker / "S1" / "2026-11-24-09-05-04").mkdir()  # a scan under way: no record yet
    _, out, _ = run(capsys, str(worker), "--all", "--format", "json")
    assert [(h["time"], h["ad"]) for h in json.loads(out)] == [
        ("2026-11-24T09:05:03Z", "IRISH_CSE"), ("2026-11-23T08:00:00Z", None)]


def test_malformed_lines_are_skipped_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    worker = tmp_path / "w1"
    worker.mkdir()
    record(worker, T0, "S1")
    with open(worker / "_scans.jsonl", "a") as stream:
        stream.write('not json\n{"result": "maybe"}\n{"time": 1, "url": "u", "ad_')
    code, out, err = run(capsys, str(worker), "--format", "json")
    assert code == 0
    assert len(json.loads(out)) == 1
    assert "skipped 3 malformed line(s)" in err


# -- real scans: the disk saved ----------------------------------------------------------


def test_summary_shows_the_disk_saved_by_real_scans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Resource()
    img = Resource()
    root.putChild(b"img", img)
    img.putChild(b"a.png", Data(PNG_A, "image/png"))
    img.putChild(b"b.png", Data(PNG_B, "image/png"))
    root.putChild(b"page.html", Data(b"IRISH_CSE <img src=img/a.png><img src=img/b.png>", "text/html"))
    root.putChild(b"plain.html", Data(b"nothing here", "text/html"))
    http = StubTreq(root)
    clock = Clock()
    clock.advance(T0)
    scanner = PageScanner(http, clock, tmp_path / "logs" / "w1", FetchLimits())
    for path in ("page.html", "page.html", "plain.html", "page.html"):
        scanner.scan(CheckRequest(f"http://pages.test/{path}", "IRISH_CSE", "S1"))
        http.flush()
        clock.advance(1)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "logs")
    assert code == 0
    assert [row[4] for row in table_rows(out)] == ["2 (2 linked)", "2 (2 linked)", "2"]
    saved = 2 * (len(PNG_A) + len(PNG_B))  # 1632 bytes
    assert out.splitlines()[-1] == (
        "3 hit(s) from 1 worker(s); 6 image(s), 4 linked; 1.6 KiB saved by de-duplication"
    )
    assert scanner.images.stats().bytes_saved == saved


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing"], "no such directory: missing"),
        (["logs", "--since", "yesterday"], "bad time 'yesterday'"),
        (["logs", "--until", "2026-02-30"], "no such date or time"),
        (["logs", "--since", "2026-11-24T25:00"], "no such date or time"),
        (["logs", "--since", "2026-11-25", "--until", "2026-11-24"], "--since is after --until"),
        (["logs", "--format", "xml"], "invalid choice: 'xml'"),
        (["logs", "--limit", "-1"], "--limit must be"),
        ([], "the following arguments are required: LOGDIR"),
    ],
)
def test_bad_arguments(logs: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert "usage: index-hits" in err
    assert "Traceback" not in err


def test_a_file_is_not_a_directory(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "logs/worker-54001/_scans.jsonl")
    assert code == 2 and "no such directory" in err


def test_the_script(logs: Path) -> None:
    done = subprocess.run(
        [str(ROOT / "bin" / "index-hits"), "logs", "--format", "json", "--site", "S2"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert [h["site"] for h in json.loads(done.stdout)] == ["S2"]
    done = subprocess.run([str(ROOT / "bin" / "index-hits"), "nowhere"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "index-hits: error: no such directory: nowhere" in done.stderr
    assert "Traceback" not in done.stderr


def test_module_runs_with_python_m(logs: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "herd.scan.cli.index_hits", "logs", "--ad", "OTHER_AD"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "OTHER_AD" in done.stdout
