"""Starting and supervising local processes on Twisted: one mechanism for every ``*-up`` script.

``Launcher`` is a ``MultiService`` that starts children with ``reactor.spawnProcess``:

- ``spawn(name, argv, ...)`` starts a child, its stdout and stderr appended to
  ``<logs>/<name>.out`` (or ``output=``), stdin on ``/dev/null``. The file descriptors are
  handed to the child directly (no pipe through the launcher), so a child's output reaches
  its file even after the launcher is gone.
- ``Child.ended`` fires with the exit status, ``subprocess``-style (the exit code, or
  ``-N`` for a death by signal N), once the child is over for good: at its exit for a
  one-shot child, at ``stop`` for a child spawned with ``restart=True`` (restarted after
  each death, 1 s later, the delay doubling while it dies within a second of starting, up
  to 60 s). ``Child.exits`` counts its exits; ``on_exit`` hears of each one.
- ``stop(name, grace)`` sends SIGTERM, then SIGKILL after ``grace`` seconds, and fires
  with the status; stopping the service stops every child, newest first.
- Children die with the launcher even when it is killed outright: on Linux each child is
  started through a tiny ``python -c`` trampoline that asks the kernel
  (``prctl(PR_SET_PDEATHSIG, SIGTERM)`` through ctypes) to SIGTERM it when the launcher
  dies, checks that the launcher is still its parent, then ``exec``s the real command (so
  the pid is the command's own). ``spawnProcess`` has no ``preexec_fn``; the trampoline
  costs one Python start-up per child.

``run_launcher(main)`` runs the reactor around ``main(reactor, launcher)`` (a coroutine or
Deferred giving the exit code), turns SIGINT, SIGTERM and SIGHUP into an orderly stop of
every child, and returns the exit code for ``sys.exit``.

Commands come from the installed package, never from a checkout's ``bin/``:
``twistd_command()`` is the twistd beside ``sys.executable``, ``module_command(m)`` runs
``python -m m``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence, Union

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from herd.core.timers import with_timeout

FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0
QUICK_DEATH = 1.0  # a restarted child that dies sooner than this waits twice as long

# Runs as ``python -c TRAMPOLINE PARENT_PID ARGV...``: die with the parent, then become ARGV.
TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(143)  # the launcher died before the prctl\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def twistd_command(python: str = sys.executable) -> list[str]:
    """How to run twistd with ``python``'s Twisted (which sees herd's plugins)."""
    beside = Path(python).with_name("twistd")
    if beside.exists():
        return [str(beside)]
    return [python, "-c", "import sys; from twisted.scripts.twistd import run; sys.exit(run())"]


def module_command(module: str, python: str = sys.executable) -> list[str]:
    """``python -m module``: a herd command from the installed package, from any directory."""
    return [python, "-m", module]


def exit_status(reason: Failure) -> int:
    """A ``processEnded`` reason as ``subprocess`` gives it: the code, or ``-signal``."""
    value = reason.value
    if getattr(value, "signal", None) is not None:
        return -value.signal
    return value.exitCode or 0


class Child:
    """One child of a ``Launcher``: its name, command, pid and end."""

    def __init__(self, name: str, argv: Sequence[str], output: Path, restart: bool) -> None:
        self.name = name
        self.argv = list(argv)
        self.output = output
        self.restart = restart
        self.pid: Optional[int] = None
        self.status: Optional[int] = None  # the status of its latest exit
        self.exits = 0
        self.stopping = False  # ``stop`` was asked: its end is expected
        self.over = False  # ended for good (no restart to come)
        self._waiters: list[defer.Deferred[int]] = []
        self.output_start = 0  # where this child's output starts in ``output``
        self._transport: Any = None
        self._restart_call: Any = None
        self._started_at = 0.0
        self._delay = FIRST_RESTART_DELAY

    @property
    def ended(self) -> defer.Deferred[int]:
        """A new Deferred firing with the exit status once the child is over for good.

        Each call gives its own Deferred: cancelling it does not touch the child.
        """
        if self.over:
            return defer.succeed(self.status if self.status is not None else 0)
        waiter: defer.Deferred[int] = defer.Deferred(lambda d: self._waiters.remove(d))
        self._waiters.append(waiter)
        return waiter

    def _finish(self) -> None:
        self.over = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(self.status if self.status is not None else 0)

    @property
    def running(self) -> bool:
        """Whether a process of this child is running now."""
        return self._transport is not None

    def tail(self, limit: int = 2000) -> str:
        """The end of what this child has written to its output (at most ``limit`` chars)."""
        try:
            with open(self.output, "rb") as out:
                out.seek(self.output_start)
                return out.read().decode(errors="replace")[-limit:]
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"<Child {self.name} pid={self.pid} status={self.status}>"


class _ChildProtocol(ProcessProtocol):
    def __init__(self, launcher: "Launcher", child: Child) -> None:
        self.launcher, self.child = launcher, child

    def processEnded(self, reason: Failure) -> None:
        self.launcher._ended(self.child, exit_status(reason))


class Launcher(MultiService):
    """Starts, restarts and stops local processes; stopping the service stops them all."""

    log = Logger()

    def __init__(self, reactor: Any, logs: Path, die_with_launcher: Optional[bool] = None,
                 on_exit: Optional[Callable[[Child, int], None]] = None) -> None:
        super().__init__()
        self.reactor = reactor
        self.logs = Path(logs)
        self.die_with_launcher = sys.platform == "linux" if die_with_launcher is None else die_with_launcher
        self.on_exit = on_exit
        self.children: dict[str, Child] = {}  # oldest first

    def spawn(self, name: str, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
              cwd: Optional[Path] = None, restart: bool = False, output: Optional[Path] = None) -> Child:
        """Start ``argv`` as ``name`` (a name whose child is over may be reused)."""
        old = self.children.get(name)
        if old is not None and old.running:
            raise ValueError(f"{name} is already running (pid {old.pid})")
        self.children.pop(name, None)
        out = Path(output) if output is not None else self.logs / f"{name}.out"
        child = Child(name, argv, out, restart)
        child._env = dict(os.environ if env is None else env)  # type: ignore[attr-defined]
        child._cwd = None if cwd is None else str(cwd)  # type: ignore[attr-defined]
        self.children[name] = child
        self._start(child)
        return child

    def forget(self, name: str) -> None:
        """Drop ``name`` from ``children`` if it is over (a running child is kept)."""
        child = self.children.get(name)
        if child is not None and child.over:
            del self.children[name]

    def _start(self, child: Child) -> None:
        child.output.parent.mkdir(parents=True, exist_ok=True)
        argv = child.argv
        if self.die_with_launcher:
            argv = [sys.executable, "-c", TRAMPOLINE, str(os.getpid()), *argv]
        with open(child.output, "ab") as out, open(os.devnull, "rb") as devnull:
            child.output_start = out.tell()
            child._transport = self.reactor.spawnProcess(
                _ChildProtocol(self, child), argv[0], argv, env=child._env,  # type: ignore[attr-defined]
                path=child._cwd, childFDs={0: devnull.fileno(), 1: out.fileno(), 2: out.fileno()},  # type: ignore[attr-defined]
            )
        child.pid = child._transport.pid
        child._started_at = self.reactor.seconds()
        self.log.info("started {name} (pid {pid}): {argv}", name=child.name, pid=child.pid, argv=child.argv)

    def _ended(self, child: Child, status: int) -> None:
        child._transport = None
        child.status, child.exits = status, child.exits + 1
        self.log.info("{name} (pid {pid}) exited with status {status}", name=child.name, pid=child.pid,
                      status=status)
        if self.on_exit is not None:
            self.on_exit(child, status)
        if child.restart and not child.stopping and self.running:
            quick = self.reactor.seconds() - child._started_at < QUICK_DEATH
            child._delay = min(child._delay * 2, MAX_RESTART_DELAY) if quick else FIRST_RESTART_DELAY
            child._restart_call = self.reactor.callLater(child._delay, self._restart, child)
        else:
            child._finish()

    def _restart(self, child: Child) -> None:
        child._restart_call = None
        self._start(child)

    def stop(self, name: str, grace: float = 5.0) -> defer.Deferred[int]:
        """SIGTERM ``name``, SIGKILL it after ``grace`` seconds; fires with its exit status."""
        child = self.children[name]
        child.stopping = True
        if child._restart_call is not None and child._restart_call.active():
            child._restart_call.cancel()
            child._restart_call = None
            child._finish()
        if child.over:
            return child.ended
        self._signal(child, "TERM")
        killer = self.reactor.callLater(grace, self._signal, child, "KILL")

        def ended(status: int) -> int:
            if killer.active():
                killer.cancel()
            return status

        return child.ended.addCallback(ended)

    def _signal(self, child: Child, sig: str) -> None:
        if child._transport is None:
            return
        try:
            child._transport.signalProcess(sig)
        except ProcessExitedAlready:
            pass

    def stop_all(self, grace: float = 5.0) -> defer.Deferred[list[int]]:
        """Stop every child, newest first (all signalled at once); fires with their statuses."""
        names = list(self.children)[::-1]
        return defer.gatherResults([self.stop(name, grace) for name in names], consumeErrors=True)

    def stopService(self) -> defer.Deferred[None]:
        """Stop every child (newest first), then the service itself."""
        stopped = self.stop_all()
        stopped.addCallback(lambda _: super(Launcher, self).stopService())
        return stopped


def first_to_end(children: Sequence[Child]) -> defer.Deferred[Child]:
    """Fires with the first of ``children`` to be over (cancelling it leaves them alone)."""
    waiters = [child.ended for child in children]

    def cancel(_: defer.Deferred[Child]) -> None:
        for waiter in waiters:
            waiter.cancel()

    first: defer.Deferred[Child] = defer.Deferred(cancel)
    for child, waiter in zip(children, waiters):
        waiter.addCallbacks(lambda _, child=child: None if first.called else first.callback(child),
                            lambda f: f.trap(defer.CancelledError))
    return first


Main = Callable[[Any, Launcher], Union[Awaitable[int], "defer.Deferred[int]", int]]
OnSignal = Callable[[str], Union[int, "defer.Deferred[int]", None]]


def run_launcher(main: Main, logs: Path, on_signal: Optional[OnSignal] = None,
                 signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
                 reactor: Any = None, on_exit: Optional[Callable[[Child, int], None]] = None) -> int:
    """Run ``main(reactor, launcher)`` in the reactor; return its exit code.

    ``main`` gives the exit code (an ``int``, a Deferred or a coroutine). When it is done, or
    when one of ``signals`` arrives, every child is stopped (newest first) and the reactor
    stops. On a signal, ``main`` is cancelled and ``on_signal(name)`` (``"SIGTERM"``...)
    runs first; it may stop the children itself and gives the exit code (0 when it gives
    None, or without ``on_signal``). Signals that come during the stop are ignored.
    """
    if reactor is None:
        from twisted.internet import reactor as default_reactor
        reactor = default_reactor
    launcher = Launcher(reactor, logs, on_exit=on_exit)
    state: dict[str, Any] = {"code": None, "main": None}
    log = Logger(namespace="herd.core.launcher.run_launcher")

    def finish(code: int) -> None:
        if state["code"] is not None:
            return
        state["code"] = code
        stopping = defer.maybeDeferred(launcher.stopService)
        stopping.addErrback(lambda f: log.failure("stopping the children", f))
        stopping.addBoth(lambda _: reactor.stop())

    def failed(failure: Failure) -> None:
        if state.get("signalled"):
            return  # main was cancelled (a CancelledError, perhaps wrapped): the signal decides
        if state["code"] is None:
            log.failure("the launcher failed", failure)
            print(f"error: {failure.getErrorMessage()}", file=sys.stderr, flush=True)
            finish(1)

    def on_signal_in_reactor(signum: int) -> None:
        if state["code"] is not None or state.get("signalled"):
            return
        state["signalled"] = True
        if state["main"] is not None:
            state["main"].cancel()
        name = signal.Signals(signum).name
        result = defer.maybeDeferred(on_signal, name) if on_signal else defer.succeed(0)
        result.addCallbacks(lambda code: finish(0 if code is None else code), failed)

    def handler(signum: int, _frame: object) -> None:
        reactor.callFromThread(on_signal_in_reactor, signum)

    def go() -> None:
        for signum in signals:  # after twistd's own handlers (SIGCHLD stays Twisted's)
            signal.signal(signum, handler)
        launcher.startService()
        started = defer.maybeDeferred(_call_main, main, reactor, launcher)
        state["main"] = started
        started.addCallbacks(lambda code: finish(1 if code is None else int(code)), failed)

    reactor.callWhenRunning(go)
    reactor.run()
    return 1 if state["code"] is None else state["code"]


def _call_main(main: Main, reactor: Any, launcher: Launcher) -> Any:
    result = main(reactor, launcher)
    if hasattr(result, "__await__") and not isinstance(result, defer.Deferred):
        return defer.Deferred.fromCoroutine(result)  # type: ignore[arg-type]
    return result


async def wait_until(reactor: IReactorTime, check: Callable[[], Awaitable[Any]], timeout: float,
                     what: str, every: float = 0.1) -> Any:
    """Await ``check()`` every ``every`` seconds until it gives something true; TimeoutError after ``timeout``."""
    deadline = reactor.seconds() + timeout
    while True:
        value = await check()
        if value:
            return value
        if reactor.seconds() >= deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        await defer.Deferred.fromCoroutine(_sleep(reactor, every))


async def _sleep(reactor: IReactorTime, seconds: float) -> None:
    from twisted.internet.task import deferLater
    await deferLater(reactor, seconds, lambda: None)


async def tcp_accepts(reactor: Any, host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host``:``port`` (connects, then closes)."""
    from twisted.internet.endpoints import TCP4ClientEndpoint
    from twisted.internet.protocol import Factory, Protocol

    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
    try:
        proto = await with_timeout(endpoint.connect(Factory.forProtocol(Protocol)), timeout + 0.5, reactor)
    except Exception:
        return False
    proto.transport.loseConnection()
    return True
