"""The lottery server's decisions: which bets to store, when an agency is done, the draw.

No I/O here: lines go to disk through a ``GroupCommit`` (by default between two reactor
turns), the draw through ``record_draw`` (off the reactor thread). Every answer the
protocol sends is a Deferred that fires once what it acknowledges is on disk.

Rules beyond the seed's letter (see ``docs/lottery-protocol.md``):

- a bet is its whole row; the same row sent again by the same agency (a retry after a lost
  ACKNOWLEDGE) is acknowledged again but stored once;
- after its BET_BATCH_END an agency's new bets are refused (bets it had already sent are
  acknowledged again, so a re-run agency goes on to its winners); a second BET_BATCH_END is
  acknowledged again with the same total;
- the draw happens once, when the last agency's end is on disk, and is itself recorded on
  disk before any BETTING_RESULTS goes out.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger

from herd.lottery.server.commit import GroupCommit
from herd.lottery.server.store import Recovered, bet_row
from herd.protocols.lottery import Bet, parse_bet

WINNING_NUMBER = 7574
"""The course's simulated draw: a bet wins when its number is this one."""

RecordDraw = Callable[[dict[int, list[str]], int], Deferred]
"""Write the draw durably (``BetStore.record_draw`` off the reactor thread)."""


class Refused(Exception):
    """A frame the service will not act on; the message says why."""


class LotteryService:
    """The bets, the agencies' ends and the draw of one store."""

    log = Logger()

    def __init__(
        self,
        agencies: int,
        recovered: Recovered,
        commit: GroupCommit,
        record_draw: RecordDraw,
        winning_number: int = WINNING_NUMBER,
        per_frame_logs: bool = True,
    ) -> None:
        self.agencies = agencies
        self._counts = dict(recovered.counts)
        self._rows = recovered.rows
        self._winners = {agency: list(docs) for agency, docs in recovered.winners.items()}
        self._ended = dict(recovered.ended)
        self._draw = recovered.draw
        self._drawing = False
        self._commit = commit
        self._record_draw = record_draw
        self.winning_number = winning_number
        self.per_frame_logs = per_frame_logs
        """Log each stored frame (INFO); off when the log level would drop those lines
        anyway, which spares building an event per frame."""
        self._winning_suffix = f",{winning_number}"

    async def start(self) -> None:
        """Hold the draw if every agency had ended but a crash came before the draw."""
        if self._all_ended() and self._draw is None and not self._drawing:
            await self._hold_draw()

    # What the protocol asks.

    def check_agency(self, agency: int) -> None:
        """Refuse an agency id outside 1..agencies."""
        if not 1 <= agency <= self.agencies:
            raise Refused(f"agency id {agency} outside 1..{self.agencies}")

    def post_bet(self, agency: int, bet: Bet) -> Deferred[int]:
        """Store one bet; fires with its number once it is on disk."""

        def stored(_: object) -> int:
            if self.per_frame_logs:
                self.log.info(
                    "action: apuesta_almacenada | result: success | dni: {dni} | numero: {numero}",
                    dni=bet.document, numero=bet.number,
                )
            return bet.number

        return self._store(agency, [bet.encode().decode("utf-8")]).addCallback(stored)

    def batch(self, agency: int, bets: Sequence[str]) -> Deferred[int]:
        """Store a batch (bets as ``herd.protocols.lottery.bet_text`` gives them); fires
        with how many of its bets are on disk (all of them)."""

        count = len(bets)
        stored = self._store(agency, bets, count)
        if self.per_frame_logs:
            stored.addCallback(self._log_batch)
        return stored

    def _log_batch(self, count: int) -> int:
        self.log.info("action: apuesta_recibida | result: success | cantidad: {cantidad}",
                      cantidad=count)
        return count

    async def end(self, agency: int) -> int:
        """The agency has sent everything; returns its total once its end is on disk."""
        self.check_agency(agency)
        if agency in self._ended:
            total = self._ended[agency]
            await self._commit.submit()  # whatever is in flight for it is on disk first
            return total
        total = self._counts.get(agency, 0)
        self._ended[agency] = total
        await self._commit.submit(end=(agency, total))
        self.log.info("agency {agency} ended with {total} bets stored", agency=agency, total=total)
        if self._all_ended() and self._draw is None and not self._drawing:
            await self._hold_draw()
        return total

    def winners(self, agency: int) -> Optional[list[str]]:
        """The agency's winners' documents, or None before the draw."""
        self.check_agency(agency)
        if self._draw is None:
            return None
        return self._draw.get(agency, [])

    @property
    def drawn(self) -> bool:
        return self._draw is not None

    def stored(self, agency: int) -> int:
        """How many bets of ``agency`` are stored (or queued to be)."""
        return self._counts.get(agency, 0)

    @property
    def groups(self) -> int:
        """Writes made so far (each one fsync of ``bets.csv`` at most)."""
        return self._commit.groups

    def idle(self) -> Deferred[None]:
        """Fires once nothing is waiting to be written."""
        return self._commit.idle()

    # Inside.

    def _store(self, agency: int, bets: Sequence[str], value: object = None) -> Deferred:
        """Queue the bets not stored yet; fires with ``value`` once they are on disk (a
        plain callback chain, not a coroutine: this runs for every frame)."""
        try:
            self.check_agency(agency)
        except Refused:
            return fail()
        prefix = f"{agency},"
        suffix = self._winning_suffix
        if '"' in "".join(bets):  # a name to quote in CSV: the general way
            candidates = [self._row(agency, text) for text in bets]
        else:
            candidates = [(prefix + text + "\n").encode("utf-8") for text in bets]
        fresh = set(candidates)
        if len(fresh) == len(candidates) and self._rows.isdisjoint(fresh):
            lines = candidates
            winning = [text.split(",")[2] for text in bets if text.endswith(suffix)]
        else:  # some bet sent again: keep the first of each
            lines, winning, fresh = [], [], set()
            for text, line in zip(bets, candidates):
                if line in self._rows or line in fresh:
                    continue
                fresh.add(line)
                lines.append(line)
                if text.endswith(suffix):
                    winning.append(text.split(",")[2])
        if agency in self._ended:
            if lines:
                return fail(Refused(f"agency {agency} has already ended its bets"))
            return self._commit.submit(value=value)  # a replay of stored bets: acknowledged again
        self._rows |= fresh
        self._winners.setdefault(agency, []).extend(winning)
        self._counts[agency] = self._counts.get(agency, 0) + len(lines)
        if len(lines) < len(bets):
            self.log.info("agency {agency}: {n} bets already stored, kept once",
                          agency=agency, n=len(bets) - len(lines))
        return self._commit.submit(b"".join(lines), value=value)

    @staticmethod
    def _row(agency: int, text: str) -> bytes:
        if '"' not in text:
            return f"{agency},{text}\n".encode("utf-8")
        bet = parse_bet(text.encode("utf-8"))
        return bet_row(agency, bet.first_name, bet.last_name, bet.document, bet.birthdate, bet.number)

    def _all_ended(self) -> bool:
        return all(agency in self._ended for agency in range(1, self.agencies + 1))

    async def _hold_draw(self) -> None:
        self._drawing = True
        draw = {agency: list(self._winners.get(agency, [])) for agency in range(1, self.agencies + 1)}
        total = sum(self._counts.values())
        await self._record_draw(draw, total)
        self._draw = draw
        self.log.info(
            "action: sorteo | result: success | ganadores: {ganadores} | apuestas: {apuestas}",
            ganadores=sum(len(docs) for docs in draw.values()), apuestas=total,
        )
