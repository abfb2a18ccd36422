"""The scan processes' log level: events below it are dropped before they are built."""

from __future__ import annotations

from typing import Iterator

import pytest
from twisted.logger import LogLevel
from twisted.python import usage

from herd.core.loglevel import LevelLogger, current_level, enabled, log_level, set_level
from herd.scan.orchestrator.tap import Options as OrchestratorOptions
from herd.scan.worker.tap import Options as WorkerOptions


@pytest.fixture(autouse=True)
def restore_level() -> Iterator[None]:
    before = current_level()
    yield
    set_level(before)


def events(level: str) -> list[dict]:
    seen: list[dict] = []
    set_level(level)
    log = LevelLogger(observer=seen.append)
    log.debug("job {job_id}", job_id=1)
    log.info("info")
    log.warn("warn")
    log.error("error")
    return seen


def test_info_is_the_default_and_drops_debug() -> None:
    assert current_level() == "info"
    assert [e["log_level"] for e in events("info")] == [LogLevel.info, LogLevel.warn, LogLevel.error]


def test_debug_lets_every_event_through() -> None:
    seen = events("debug")
    assert [e["log_level"] for e in seen] == [LogLevel.debug, LogLevel.info, LogLevel.warn,
                                               LogLevel.error]
    assert seen[0]["job_id"] == 1


def test_warn_drops_info() -> None:
    assert [e["log_level"] for e in events("warn")] == [LogLevel.warn, LogLevel.error]
    assert not enabled(LogLevel.info) and enabled(LogLevel.error)


def test_a_dropped_event_formats_nothing() -> None:
    class Exploding:
        def __format__(self, spec: str) -> str:
            raise AssertionError("formatted")

        def __repr__(self) -> str:
            raise AssertionError("formatted")

    assert events("info") and LevelLogger(observer=lambda e: 1 / 0).debug("{x}", x=Exploding()) is None


def test_log_level_option_type() -> None:
    assert log_level("DEBUG") == "debug"
    with pytest.raises(ValueError):
        log_level("verbose")


def test_both_taps_take_log_level() -> None:
    orchestrator = OrchestratorOptions()
    orchestrator.parseOptions(["--log-level", "debug"])
    assert orchestrator["log-level"] == "debug"
    assert OrchestratorOptions()["log-level"] == "info"
    worker = WorkerOptions()
    worker.parseOptions(["--log-level", "warn", "54001", "/tmp/x", "127.0.0.1", "127.0.0.1",
                         "54000", "w1"])
    assert worker["log-level"] == "warn"
    with pytest.raises(usage.UsageError):
        OrchestratorOptions().parseOptions(["--log-level", "loud"])
