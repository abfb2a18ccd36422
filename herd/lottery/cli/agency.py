"""``agency --id N --server HOST:PORT``: one agency's client (see ``herd.lottery.agency``).

Exit status: 0 when the agency has its winners or was stopped by SIGTERM, 1 when it could
not go on (logged as ``result: fail``), 2 for a configuration refused at start-up.
"""

from __future__ import annotations

import signal

_EARLY: list[str] = []
if __name__ == "__main__":  # before the slow imports below: SIGTERM at start-up stops cleanly too
    for _signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(_signum, lambda signum, frame: _EARLY.append(signal.Signals(signum).name))

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Optional, Sequence  # noqa: E402

from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol  # noqa: E402
from twisted.logger import Logger, globalLogBeginner  # noqa: E402
from twisted.python.failure import Failure  # noqa: E402

from herd.lottery.agency.agency import Agency, AgencyError, Stopped, read_dataset  # noqa: E402
from herd.lottery.agency.config import AgencyConfig, ConfigError, load_agency_config  # noqa: E402
from herd.lottery.agency.connection import Link, LinkError  # noqa: E402
from herd.lottery.logs import level_observer  # noqa: E402

log = Logger(namespace="herd.lottery.agency")


def parse_arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="agency", description="One lottery agency's client.")
    p.add_argument("--id", help="agency id (CLI_ID)")
    p.add_argument("--server", help="server HOST:PORT (CLI_SERVER_ADDRESS)")
    p.add_argument("--dataset", help="bets file (default .data/agency-<id>.csv)")
    p.add_argument("--max-amount", help="bets per batch (CLI_BATCH_MAXAMOUNT)")
    p.add_argument("--loop-amount", help="at most this many batches (CLI_LOOP_AMOUNT; 0: all)")
    p.add_argument("--loop-period", help="pause between batches, e.g. 150ms (CLI_LOOP_PERIOD)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR (CLI_LOG_LEVEL)")
    p.add_argument("--socket-timeout", help="wait per answer, e.g. 15s (CLI_SOCKET_TIMEOUT)")
    p.add_argument("--config", help="YAML file (default: config.yaml here, if any)")
    return p.parse_args(argv)


def configure(argv: Optional[Sequence[str]]) -> AgencyConfig:
    args = parse_arguments(argv)
    path = Path(args.config) if args.config else None
    if path is None and Path("config.yaml").is_file():
        path = Path("config.yaml")
    cli = {key: getattr(args, key) for key in
           ("id", "server", "dataset", "max_amount", "loop_amount", "loop_period", "log_level",
            "socket_timeout")}
    return load_agency_config(cli, os.environ, path)


class StopRequest:
    """SIGTERM or SIGINT, from the very start of the process: the agency stops between two
    frames once it exists (at once if the signal came first)."""

    def __init__(self) -> None:
        self.requested: Optional[str] = _EARLY[0] if _EARLY else None
        self.agency: Optional[Agency] = None
        self.reactor: Any = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signal)

    def _signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.reactor is None:
            self.requested = self.requested or name
        else:
            self.reactor.callFromThread(self.request, name)

    def request(self, name: str) -> None:
        self.requested = self.requested or name
        if self.agency is not None:
            self.agency.stop()


async def run(reactor: Any, config: AgencyConfig, stop: StopRequest) -> int:
    """Run the agency; its exit status."""
    log.info(
        "action: config | result: success | client_id: {id} | server_address: {host}:{port} | "
        "loop_amount: {amount} | loop_period: {period}s | log_level: {level_name} | "
        "batch_max_amount: {max_amount} | socket_timeout: {timeout}s | dataset: {dataset}",
        id=config.id, host=config.host, port=config.port, amount=config.loop_amount,
        period=config.loop_period, level_name=config.level.name.upper(),
        max_amount=config.max_amount, timeout=config.socket_timeout, dataset=str(config.dataset),
    )
    endpoint = HostnameEndpoint(reactor, config.host, config.port, timeout=config.socket_timeout)
    link = Link(endpoint, reactor, config.socket_timeout, connectProtocol)
    agency = Agency(config, link, reactor)
    stop.agency = agency
    if stop.requested:
        agency.stop()
    status, reason = 0, "done"
    try:
        bets = read_dataset(config.dataset)
        winners = await agency.run(bets)
        log.debug("winners of agency {id}: {documents}", id=config.id, documents=",".join(winners))
    except Stopped:
        reason = stop.requested or "SIGTERM"
        log.info("action: loop_finished | result: success | client_id: {id} | stopped: {reason}",
                 id=config.id, reason=reason)
    except (AgencyError, LinkError) as error:
        status, reason = 1, "error"
        log.error("action: apuesta_enviada | result: fail | client_id: {id} | error: {error}",
                  id=config.id, error=str(error))
    finally:
        link.close()
    log.info("action: exit | result: {result} | client_id: {id} | reason: {reason}",
             result="success" if status == 0 else "fail", id=config.id, reason=reason)
    return status


def main(argv: Optional[Sequence[str]] = None, stop: Optional[StopRequest] = None) -> int:
    """Configure, log to standard output, run under the reactor (which leaves SIGTERM and
    SIGINT to ``StopRequest``)."""
    if stop is None:
        stop = StopRequest()
        stop.install()
    try:
        config = configure(argv)
    except ConfigError as error:
        print(f"agency: configuration refused: {error}", file=sys.stderr)
        print(f"action: config | result: fail | error: {error}", flush=True)
        return 2
    globalLogBeginner.beginLoggingTo([level_observer(config.level)], redirectStandardIO=False)
    from twisted.internet import reactor

    outcome: list[int] = []

    def finished(result: object) -> None:
        if isinstance(result, Failure):
            log.failure("the agency failed", result)
            result = 1
        outcome.append(int(result))  # type: ignore[call-overload]
        reactor.stop()

    def start() -> None:
        stop.reactor = reactor
        Deferred.fromCoroutine(run(reactor, config, stop)).addBoth(finished)

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return outcome[0] if outcome else 1


if __name__ == "__main__":
    sys.exit(main())
