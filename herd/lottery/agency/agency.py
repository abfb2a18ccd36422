"""One agency's run: its exercise-5 bet, its data set in batches, its end, its winners.

1. With ``CLI_BETTOR_*`` set, the one bet goes first as a POST_BET.
2. The data set goes as BET_BATCHes: ``batch.maxAmount`` bets each, fewer only where that
   many would make a frame over 8 kB; ``loop.period`` apart; each acknowledged with its count.
3. BET_BATCH_END; the server acknowledges with the agency's total of stored bets.
4. GET_WINNERS until the draw has happened: WINNERS_READY(0) means "not yet", and the
   agency asks again after 0.1 s, 0.2 s, 0.4 s ... at most 2 s apart, for at most
   ``WINNERS_WAIT`` seconds in all (then it gives up, logging a failure).

SIGTERM stops it between two frames: the frame in flight is answered first, then the
connection is closed and the agency exits with code 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from herd.lottery.agency.config import AgencyConfig
from herd.lottery.agency.connection import Link, LinkStopped
from herd.protocols.lottery import (
    NOT_YET,
    ClientFrame,
    ClientKind,
    InvalidBet,
    ServerFrame,
    ServerKind,
    batches,
    parse_bet,
    parse_documents,
    parse_uint32,
)

WINNERS_WAIT = 600.0
"""Longest wait for the draw, in seconds, before an agency gives up asking."""
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 2.0


class AgencyError(Exception):
    """The agency cannot go on; the message says why."""


class Stopped(Exception):
    """SIGTERM arrived: stop between two frames."""


def read_dataset(path: Path) -> list[bytes]:
    """The bets of a data set file (one ``NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO`` per
    line, CRLF or LF), each checked; a bad line is refused with its number."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AgencyError(f"data set {path}: {error.strerror}") from None
    bets = []
    for number, line in enumerate(data.splitlines(), 1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            parse_bet(line)
        except InvalidBet as error:
            raise AgencyError(f"data set {path}, line {number}: {error}") from None
        bets.append(line)
    return bets


class Agency:
    """Sends one agency's bets and asks for its winners."""

    log = Logger()

    def __init__(self, config: AgencyConfig, link: Link, clock: IReactorTime,
                 winners_wait: float = WINNERS_WAIT) -> None:
        self.config = config
        self.link = link
        self.clock = clock
        self.winners_wait = winners_wait
        self.stopping = False
        self._sleep: Optional[Deferred[None]] = None
        self.winners: Optional[list[str]] = None

    def stop(self) -> None:
        """Stop at the next pause between frames (SIGTERM)."""
        self.stopping = True
        self.link.stop()
        if self._sleep is not None:
            self._sleep.cancel()

    async def run(self, bets: Sequence[bytes]) -> list[str]:
        """The whole run; returns the agency's winners' documents."""
        config = self.config
        if config.bettor is not None:
            bet = config.bettor
            number = self._ack(await self._ask(ClientKind.POST_BET, bet.encode()), "POST_BET")
            if number != bet.number:
                raise AgencyError(f"POST_BET acknowledged number {number}, sent {bet.number}")
            self.log.info("action: apuesta_enviada | result: success | dni: {dni} | numero: {numero}",
                          dni=bet.document, numero=bet.number)
        sent = 0
        for index, (held, payload) in enumerate(batches(bets, config.max_amount)):
            if config.loop_amount and index >= config.loop_amount:
                break
            if index and config.loop_period:
                await self._pause(config.loop_period)
            count = self._ack(await self._ask(ClientKind.BET_BATCH, payload), "BET_BATCH")
            if count != held:
                raise AgencyError(f"a batch of {held} bets acknowledged as {count}")
            sent += count
            self.log.debug("action: apuesta_enviada | result: success | cantidad: {cantidad}",
                           cantidad=count)
        total = self._ack(await self._ask(ClientKind.BET_BATCH_END, b""), "BET_BATCH_END")
        expected = sent + (1 if config.bettor is not None else 0)
        if total < sent:
            raise AgencyError(f"the server holds {total} bets of this agency, {expected} were sent")
        self.log.info(
            "action: loop_finished | result: success | client_id: {id} | apuestas: {sent} | "
            "almacenadas: {total}", id=config.id, sent=expected, total=total)
        winners = await self._winners()
        self.log.info("action: consulta_ganadores | result: success | cant_ganadores: {n}",
                      n=len(winners))
        self.winners = winners
        return winners

    async def _winners(self) -> list[str]:
        started = self.clock.seconds()
        delay = FIRST_BACKOFF
        while True:
            answer = await self._ask(ClientKind.GET_WINNERS, b"")
            if answer.kind is ServerKind.BETTING_RESULTS:
                return parse_documents(answer.payload)
            if answer != NOT_YET:
                raise AgencyError(f"unexpected answer to GET_WINNERS: {answer.kind.name}")
            if self.clock.seconds() - started + delay > self.winners_wait:
                raise AgencyError(f"no draw after {self.winners_wait:g} s")
            self.log.debug("action: consulta_ganadores | result: in_progress | retry_in: {delay}",
                           delay=delay)
            await self._pause(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _ask(self, kind: ClientKind, payload: bytes) -> ServerFrame:
        if self.stopping:
            raise Stopped()
        try:
            return await self.link.ask(ClientFrame(kind, self.config.id, payload))
        except LinkStopped:
            raise Stopped() from None

    def _ack(self, answer: ServerFrame, what: str) -> int:
        if answer.kind is not ServerKind.ACKNOWLEDGE:
            raise AgencyError(f"{what} answered with {answer.kind.name} instead of ACKNOWLEDGE")
        return parse_uint32(answer)

    async def _pause(self, seconds: float) -> None:
        if self.stopping:
            raise Stopped()
        self._sleep = deferLater(self.clock, seconds)
        try:
            await self._sleep
        except CancelledError:
            raise Stopped() from None
        finally:
            self._sleep = None
