"""``agency --id N --server HOST:PORT``: one agency's client (see ``herd.lottery.agency``).

Exit status: 0 when the agency has its winners or was stopped by SIGTERM, 1 when it could
not go on (logged as ``result: fail``), 2 for a configuration refused at start-up.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from twisted.internet.endpoints import HostnameEndpoint, connectProtocol
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner

from herd.lottery.agency.agency import Agency, AgencyError, Stopped, read_dataset
from herd.lottery.agency.config import AgencyConfig, ConfigError, load_agency_config
from herd.lottery.agency.connection import Link, LinkError
from herd.lottery.logs import level_observer

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


async def run(reactor: Any, config: AgencyConfig) -> int:
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
    status, reason = 0, "done"

    def on_signal(signum: int, frame: object) -> None:
        reactor.callFromThread(agency.stop)

    def install() -> None:  # once the reactor runs, over its own handlers
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)

    reactor.callWhenRunning(install)
    try:
        bets = read_dataset(config.dataset)
        winners = await agency.run(bets)
        log.debug("winners of agency {id}: {documents}", id=config.id, documents=",".join(winners))
    except Stopped:
        reason = "SIGTERM"
        log.info("action: loop_finished | result: success | client_id: {id} | stopped: SIGTERM",
                 id=config.id)
    except (AgencyError, LinkError) as error:
        status, reason = 1, "error"
        log.error("action: apuesta_enviada | result: fail | client_id: {id} | error: {error}",
                  id=config.id, error=str(error))
    finally:
        link.close()
    log.info("action: exit | result: {result} | client_id: {id} | reason: {reason}",
             result="success" if status == 0 else "fail", id=config.id, reason=reason)
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Configure, log to standard output, run under the reactor."""
    try:
        config = configure(argv)
    except ConfigError as error:
        print(f"agency: configuration refused: {error}", file=sys.stderr)
        print(f"action: config | result: fail | error: {error}", flush=True)
        return 2
    globalLogBeginner.beginLoggingTo([level_observer(config.level)], redirectStandardIO=False)

    async def main_coroutine(reactor: Any) -> None:
        status = await run(reactor, config)
        if status:
            raise SystemExit(status)

    from twisted.internet.defer import Deferred

    try:
        react(lambda reactor: Deferred.fromCoroutine(main_coroutine(reactor)))
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
