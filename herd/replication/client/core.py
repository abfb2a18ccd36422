"""A client of the replicated counter: asks the RM for its servers, sends requests in turn.

Request ``k`` is ``<C1, S1, num, hello_worldk, request>`` sent to every server the RM named
(the primary in passive mode, every member in active mode) whose connection is up. The
first reply completes it (``Received <C1, S1, 101, reply>``); every later one is a
discarded duplicate. A round without a reply within ``timeout`` seconds asks the RM again
and resends; after 3 such rounds spanning at least ``give_up`` seconds without a reply from
any server, the client prints ``all servers are dead`` and stops. Each completed operation
is written to the history (one JSON line, flushed).
"""

from __future__ import annotations

import json
from typing import IO, Callable, Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from herd.replication.connection import Component, Conn
from herd.replication.console import Console
from herd.protocols.replication import (
    Assignment, ClientHello, Hello, Message, Reply, Request, text,
)


class ClientCore(Component):
    """One client's decisions; connections are set with ``server_up``/``server_down``."""

    def __init__(self, name: str, clock: IReactorTime, console: Console,
                 requests: Optional[int] = None, interval: float = 1.0, timeout: float = 2.0,
                 give_up: float = 10.0, first: int = 1, history: Optional[IO[str]] = None,
                 on_done: Callable[[int], None] = lambda code: None,
                 want: Callable[[tuple[str, ...]], None] = lambda servers: None) -> None:
        self.name = name
        self.clock = clock
        self.console = console
        self.requests = requests
        self.interval = interval
        self.timeout = timeout
        self.give_up = give_up
        self.history = history
        self.on_done = on_done
        self.want = want  # the servers the client should keep connections to
        self.mode: Optional[str] = None
        self.servers: tuple[str, ...] = ()
        self.conns: dict[str, Conn] = {}
        self.rm_conn: Optional[Conn] = None
        self.k = 0  # requests started
        self.first = first
        self.current: Optional[Request] = None
        self.answered = first - 1  # highest request number answered
        self.sent_to: set[str] = set()
        self.invoke = 0.0
        self.failed_rounds = 0
        self._timer: Optional[IDelayedCall] = None
        self._next: Optional[IDelayedCall] = None
        self.done = False
        self.values: list[int] = []

    # -- connections --------------------------------------------------------------------

    def rm_up(self, conn: Conn) -> None:
        self.rm_conn = conn
        conn.identified("RM")
        self._ask_rm()

    def rm_down(self) -> None:
        self.rm_conn = None

    def _ask_rm(self) -> None:
        if self.rm_conn is not None:
            self.rm_conn.send(ClientHello(self.name))

    def server_up(self, name: str, conn: Conn) -> None:
        conn.identified(name)
        conn.send(Hello(self.name, name))
        self.conns[name] = conn
        if self.current is not None and name in self.servers and name not in self.sent_to:
            self._send_to(name)

    def server_down(self, name: str) -> None:
        self.conns.pop(name, None)

    def received(self, conn: Conn, m: Message) -> None:
        if conn is self.rm_conn and isinstance(m, Assignment) and m.client == self.name:
            self.console.say(f"Received {text(m)}")
            self._assigned(m)
        elif isinstance(m, Reply) and m.client == self.name and conn.peer == m.server:
            self._reply(m)
        else:
            self.refused(conn, f"unexpected {text(m)}")

    # -- requests -----------------------------------------------------------------------

    def start(self) -> None:
        self._next = self.clock.callLater(0, self._start_next)

    def wind_down(self) -> None:
        """Stop after the request in flight (at once between two requests)."""
        self.requests = self.k
        if self.current is None:
            self._finish(0)

    def stop(self) -> None:
        for call in (self._timer, self._next):
            if call is not None and call.active():
                call.cancel()

    def _assigned(self, m: Assignment) -> None:
        changed = m.servers != self.servers
        self.mode, self.servers = m.mode, m.servers
        self.want(m.servers)
        if changed and self.current is not None:
            for server in self.servers:
                if server in self.conns and server not in self.sent_to:
                    self._send_to(server)

    def _start_next(self) -> None:
        self._next = None
        if self.done:
            return
        if self.requests is not None and self.k >= self.requests:
            self._finish(0)
            return
        self.k += 1
        num = self.first + self.k - 1
        self.current = Request(self.name, "?", num, f"hello_world{self.k}")
        self.invoke = self.clock.seconds()
        self.failed_rounds = 0
        self._round()

    def _round(self) -> None:
        self.sent_to = set()
        for server in self.servers:
            if server in self.conns:
                self._send_to(server)
        self._timer = self.clock.callLater(self.timeout, self._round_failed)

    def _send_to(self, server: str) -> None:
        assert self.current is not None
        request = Request(self.name, server, self.current.num, self.current.text)
        self.sent_to.add(server)
        self.console.say(f"Sent {request.brief()}")
        self.conns[server].send(request)

    def _round_failed(self) -> None:
        self._timer = None
        self.failed_rounds += 1
        waited = self.clock.seconds() - self.invoke
        if self.failed_rounds >= 3 and waited >= self.give_up:
            self.console.say("all servers are dead")
            self._record("timeout", None, None)
            self._finish(1)
            return
        self._ask_rm()
        self._round()

    def _reply(self, m: Reply) -> None:
        self.console.say(f"Received {m.brief()}")
        if self.current is None or m.num != self.current.num:
            if m.num <= self.answered:
                self.console.say(f"request_num {m.num}: Discarded duplicate reply from {m.server}")
            return
        self.current = None
        self.answered = m.num
        self.values.append(m.value)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._record("ok", m.value, m.server, m.num)
        self._next = self.clock.callLater(self.interval, self._start_next)

    def _record(self, outcome: str, value: Optional[int], server: Optional[str],
                num: Optional[int] = None) -> None:
        if self.history is None:
            return
        if num is None and self.current is not None:
            num = self.current.num
        line = {"client": self.name, "request": num, "invoke": self.invoke,
                "complete": self.clock.seconds(), "outcome": outcome, "value": value,
                "server": server}
        self.history.write(json.dumps(line) + "\n")
        self.history.flush()

    def _finish(self, code: int) -> None:
        if not self.done:
            self.done = True
            self.stop()
            self.on_done(code)
