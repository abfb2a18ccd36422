"""End to end with real processes: ``twistd -n imaging`` and ``bin/imaging-worker`` on free
loopback ports, shared by the tests of this module (faults last: they kill processes).

The course's flow with 100 frames; refusals over real sockets; SIGHUP; schemathesis
against /openapi.json; a worker killed with SIGKILL mid-run; the server killed mid-run
and restarted. Exactly-once is checked in the server's own database.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from herd.core.processes import ProcessGroup, wait_for
from herd.testing.imaging import Client, ImagingSystem, bomb_png, frame, http

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImagingSystem]:
    root = tmp_path_factory.mktemp("imaging")
    with ProcessGroup(root / "logs") as group:
        imaging = ImagingSystem(group, root / "data", root / "users")
        imaging.add_user("alice", "wonderland")
        imaging.add_user("bob", "builder")
        imaging.start_server("--max-upload", "3000000")
        imaging.start_worker("w1")
        imaging.start_worker("w2", "--tags", "gpu")
        yield imaging


def alice(system: ImagingSystem) -> Client:
    client = system.client()
    assert client.login("alice", "wonderland").status == 200
    return client


def image(data: bytes) -> Image.Image:
    opened = Image.open(io.BytesIO(data))
    opened.load()
    return opened


def exactly_once(system: ImagingSystem, workload_id: str) -> int:
    """Every original of the workload has exactly one filtered image, on disk too."""
    with sqlite3.connect(f"file:{system.data / 'imaging.sqlite'}?mode=ro", uri=True) as db:
        originals = [r[0] for r in db.execute(
            "SELECT id FROM images WHERE workload_id = ? AND type = 'original'", (workload_id,))]
        results = dict(db.execute(
            "SELECT source_id, COUNT(*) FROM images WHERE workload_id = ? AND type = 'filtered' "
            "GROUP BY source_id", (workload_id,)).fetchall())
        directory = db.execute("SELECT directory FROM workloads WHERE id = ?",
                               (workload_id,)).fetchone()[0]
    assert results == {original: 1 for original in originals}
    files = [p for p in (system.data / "images" / directory).iterdir() if not p.name.startswith(".")]
    assert len(files) == 2 * len(originals)
    return len(originals)


def test_the_course_flow_with_100_frames(system: ImagingSystem) -> None:
    client = alice(system)
    status = client.get("/status")
    assert status.status == 200 and set(status.json()) == {"system_name", "server_time", "active_workloads"}
    made = client.create_workload(filter="grayscale", workload_name="frames")
    assert made.status == 201
    workload = made.json()
    assert (workload["status"], workload["running_jobs"], workload["filtered_images"]) == ("scheduling", 0, [])
    frames = {}
    for index in range(100):
        reply = client.upload(workload["workload_id"], frame(index), name=f"frame{index:03}.png")
        assert reply.status == 201, reply.body
        frames[reply.json()["image_id"]] = index
    active = [w["workload_id"] for w in client.get("/status").json()["active_workloads"]]
    done = client.wait_completed(workload["workload_id"], 100, timeout=60)
    assert done["running_jobs"] == 0 and len(set(done["filtered_images"])) == 100
    for image_id in done["filtered_images"]:
        reply = client.get(f"/images/{image_id}")
        assert reply.status == 200 and reply.headers["Content-Type"] == "image/png"
        gray = image(reply.body)
        assert gray.size == (64, 48)
        red, green, blue = gray.convert("RGB").split()
        assert red.tobytes() == green.tobytes() == blue.tobytes()
    assert exactly_once(system, workload["workload_id"]) == 100
    assert workload["workload_id"] in active or not active
    assert workload["workload_id"] not in [w["workload_id"] for w in client.get("/status").json()["active_workloads"]]

    blur = client.create_workload(filter="blur", workload_name="blurred").json()
    originals = {}
    for index in range(10):
        data = frame(index, (80, 60))
        originals[client.upload(blur["workload_id"], data).json()["image_id"]] = image(data)
    done = client.wait_completed(blur["workload_id"], 10, timeout=30)
    results = [image(client.get(f"/images/{i}").body) for i in done["filtered_images"]]
    assert all(r.size == (80, 60) and r.format == "PNG" for r in results)
    assert not {r.convert("RGB").tobytes() for r in results} & {o.tobytes() for o in originals.values()}

    assert list(client.logout().json()) == ["logout_message"]
    refused = client.get("/status")
    assert refused.status == 401 and refused.json()["message"] == "token revoked"
    assert system.client().login("bob", "wonderland").status == 401
    assert system.client().login("bob", "builder").status == 200


def test_tags_send_work_only_to_workers_that_carry_them(system: ImagingSystem) -> None:
    client = alice(system)
    tagged = client.create_workload(filter="grayscale", tags="gpu").json()
    for index in range(6):
        assert client.upload(tagged["workload_id"], frame(index)).status == 201
    client.wait_completed(tagged["workload_id"], 6, timeout=30)
    with sqlite3.connect(f"file:{system.data / 'imaging.sqlite'}?mode=ro", uri=True) as db:
        workers = {r[0] for r in db.execute("SELECT worker FROM jobs WHERE workload_id = ?",
                                            (tagged["workload_id"],))}
        activity = db.execute("SELECT COUNT(*) FROM activity WHERE worker = 'w1'").fetchone()[0]
    assert workers == {"w2"}
    assert activity >= 1


def test_refusals_over_real_sockets(system: ImagingSystem) -> None:
    client = alice(system)
    workload = client.create_workload().json()["workload_id"]
    too_big = client.upload(workload, b"\x89PNG" + os.urandom(3_500_000))
    assert (too_big.status, too_big.json()["error"]) == (413, "too_large")
    assert client.upload(workload, bomb_png(7000, 7000)).status == 413
    assert client.upload(workload, b"just text", name="a.txt", ctype="text/plain").status == 415
    assert client.upload(workload, frame(1)[:-30]).status == 400
    assert client.upload(workload, frame(1), kind="filtered").status == 403
    wrong = http("PATCH", system.base + f"/workloads/{workload}", headers=client.auth())
    assert (wrong.status, wrong.json()["error"]) == (405, "method_not_allowed")
    missing = client.get("/images/" + "0" * 32)
    assert (missing.status, missing.json()["error"]) == (404, "not_found")
    anonymous = http("GET", system.base + "/status")
    assert anonymous.status == 401 and set(anonymous.json()) == {"error", "message"}
    # the course's script sends its download with a form body: served as usual
    uploaded = client.upload(workload, frame(2)).json()["image_id"]
    body = b"workload_id=" + workload.encode() + b"&type=original"
    got = http("GET", system.base + f"/images/{uploaded}", body,
               {**client.auth(), "Content-Type": "application/x-www-form-urlencoded"})
    assert got.status == 200 and got.body == frame(2)


def test_sighup_reloads_the_users_file(system: ImagingSystem) -> None:
    assert system.client().login("carol", "pw").status == 401
    system.add_user("carol", "pw")
    system.group.processes["server"].send_signal(signal.SIGHUP)
    wait_for(lambda: system.client().login("carol", "pw").status == 200, 10, "carol's login")


def test_schemathesis_finds_no_500_and_no_answer_off_the_document(system: ImagingSystem) -> None:
    tool = Path(sys.executable).with_name("schemathesis")
    if not tool.exists():
        pytest.skip("schemathesis is not installed")
    client = alice(system)
    run = subprocess.run(
        [str(tool), "run", system.base + "/openapi.json", "-H", f"Authorization: Bearer {client.token}",
         "--max-examples", "5", "--seed", "7", "--exclude-path", "/logout", "--no-color",
         "--generation-database", "none", "--phases", "coverage,fuzzing",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
         "response_schema_conformance,response_headers_conformance"],
        capture_output=True, text=True, timeout=120, cwd=system.data.parent)  # its cache there
    assert run.returncode == 0, run.stdout[-4000:]
    assert "passed" in run.stdout


def test_a_worker_killed_mid_run_loses_no_image_and_doubles_none(system: ImagingSystem) -> None:
    system.start_worker("victim", "--slots", "1", "--tags", "fragile")  # the only one tagged
    client = alice(system)
    workload = client.create_workload(filter="blur", tags="fragile").json()["workload_id"]
    frames = [frame(index, (800, 600)) for index in range(30)]  # about 2 s of work for one slot
    for data in frames:
        assert client.upload(workload, data).status == 201
    wait_for(lambda: len(client.get(f"/workloads/{workload}").json()["filtered_images"]) >= 4, 30,
             "a few filtered images")
    system.group.stop("victim", signal.SIGKILL)
    left = wait_for(lambda: re.search(r"worker victim (left|dead) with (\d+) job",
                                      system.group.output("server")), 10, "the server to notice")
    assert int(left.group(2)) >= 1, "the worker held no job when killed"
    system.start_worker("rescuer", "--tags", "fragile")
    client.wait_completed(workload, 30, timeout=60)
    assert exactly_once(system, workload) == 30


def test_a_server_restarted_mid_run_still_completes(system: ImagingSystem) -> None:
    system.start_worker("solo", "--slots", "1", "--tags", "solo")  # slow on purpose
    client = alice(system)
    made = client.create_workload(filter="grayscale", workload_name="restart", tags="solo")
    workload = made.json()["workload_id"]
    frames = [frame(index, (800, 600)) for index in range(30)]  # about 1 s of work for one slot
    for data in frames:
        assert client.upload(workload, data).status == 201
    wait_for(lambda: len(client.get(f"/workloads/{workload}").json()["filtered_images"]) >= 1, 30,
             "a filtered image")
    system.group.stop("server", signal.SIGKILL)
    system.start_server("--max-upload", "3000000")
    assert "queued from the store" in system.group.output("server"), "nothing left to resume"
    state = client.wait_completed(workload, 30, timeout=60)  # the token survived the restart
    assert state["workload_name"] == "restart" and state["running_jobs"] == 0
    assert exactly_once(system, workload) == 30
