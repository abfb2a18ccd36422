"""herd.core.launcher: spawning, restarting and stopping children (fake reactor), plus one real run."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from herd.core.launcher import TRAMPOLINE, Child, Launcher, exit_status, module_command, twistd_command, wait_until


class FakeProcess:
    """What ``spawnProcess`` returns: a pid, and the signals it was sent."""

    def __init__(self, reactor: "FakeProcessReactor", proto: Any, argv: list[str], kwargs: dict[str, Any]) -> None:
        self.reactor, self.proto, self.argv, self.kwargs = reactor, proto, argv, kwargs
        self.pid = 1000 + len(reactor.spawned)
        self.signals: list[str] = []
        self.alive = True

    def signalProcess(self, sig: str) -> None:
        if not self.alive:
            raise ProcessExitedAlready()
        self.signals.append(sig)

    def exit(self, code: int | None = 0, sig: int | None = None) -> None:
        """The process ends: with ``code``, or killed by ``sig``."""
        self.alive = False
        reason = ProcessDone(0) if code == 0 and sig is None else ProcessTerminated(code, sig)
        self.proto.processEnded(Failure(reason))


class FakeProcessReactor(Clock):
    """A Clock that records ``spawnProcess`` calls instead of forking."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[FakeProcess] = []

    def spawnProcess(self, proto: Any, executable: str, args: list[str], **kwargs: Any) -> FakeProcess:
        process = FakeProcess(self, proto, list(args), kwargs)
        self.spawned.append(process)
        return process


class LauncherTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FakeProcessReactor()
        self.logs = Path(self.mktemp())
        self.exits: list[tuple[str, int]] = []
        self.launcher = Launcher(self.reactor, self.logs, die_with_launcher=False,
                                 on_exit=lambda child, status: self.exits.append((child.name, status)))
        self.launcher.startService()

    def test_spawn_writes_output_to_the_logs_and_reports_the_end(self) -> None:
        child = self.launcher.spawn("a", ["prog", "x"], env={"K": "v"}, cwd=Path("/tmp"))
        process = self.reactor.spawned[0]
        self.assertEqual(process.argv, ["prog", "x"])
        self.assertEqual(process.kwargs["env"], {"K": "v"})
        self.assertEqual(process.kwargs["path"], "/tmp")
        self.assertEqual(sorted(process.kwargs["childFDs"]), [0, 1, 2])
        self.assertTrue((self.logs / "a.out").exists())
        self.assertEqual(child.pid, process.pid)
        ended = child.ended
        self.assertNoResult(ended)
        process.exit(3)
        self.assertEqual(self.successResultOf(ended), 3)
        self.assertEqual(self.exits, [("a", 3)])
        self.assertFalse(child.running)
        self.assertEqual(self.successResultOf(child.ended), 3)  # later callers too

    def test_a_death_by_signal_is_minus_the_signal(self) -> None:
        child = self.launcher.spawn("a", ["prog"])
        self.reactor.spawned[0].exit(None, 9)
        self.assertEqual(self.successResultOf(child.ended), -9)
        self.assertEqual(exit_status(Failure(ProcessDone(0))), 0)

    def test_cancelling_a_waiter_leaves_the_child_alone(self) -> None:
        child = self.launcher.spawn("a", ["prog"])
        first, second = child.ended, child.ended
        first.cancel()
        self.failureResultOf(first, defer.CancelledError)
        self.reactor.spawned[0].exit(0)
        self.assertEqual(self.successResultOf(second), 0)

    def test_stop_sends_sigterm_then_sigkill_after_the_grace(self) -> None:
        self.launcher.spawn("a", ["prog"])
        process = self.reactor.spawned[0]
        stopped = self.launcher.stop("a", grace=5)
        self.assertEqual(process.signals, ["TERM"])
        self.reactor.advance(4.9)
        self.assertEqual(process.signals, ["TERM"])
        self.reactor.advance(0.2)
        self.assertEqual(process.signals, ["TERM", "KILL"])
        process.exit(None, 9)
        self.assertEqual(self.successResultOf(stopped), -9)

    def test_stop_within_the_grace_cancels_the_kill(self) -> None:
        self.launcher.spawn("a", ["prog"])
        process = self.reactor.spawned[0]
        stopped = self.launcher.stop("a", grace=5)
        process.exit(None, 15)
        self.assertEqual(self.successResultOf(stopped), -15)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stopping_the_service_stops_every_child_newest_first(self) -> None:
        for name in ("a", "b", "c"):
            self.launcher.spawn(name, [name])
        done = self.launcher.stopService()
        self.assertEqual([p.signals for p in self.reactor.spawned], [["TERM"]] * 3)
        self.assertEqual(list(self.launcher.children)[::-1], ["c", "b", "a"])
        self.assertNoResult(done)
        for process in self.reactor.spawned:
            process.exit(None, 15)
        self.successResultOf(done)
        self.assertFalse(self.launcher.running)

    def test_restart_after_a_death_with_a_growing_delay(self) -> None:
        child = self.launcher.spawn("r", ["prog"], restart=True)
        ended = child.ended
        self.reactor.spawned[0].exit(1)  # died at once: 2 s
        self.assertNoResult(ended)
        self.reactor.advance(1.9)
        self.assertEqual(len(self.reactor.spawned), 1)
        self.reactor.advance(0.1)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.assertEqual(child.pid, self.reactor.spawned[1].pid)
        self.reactor.advance(10)
        self.reactor.spawned[1].exit(1)  # ran a while: 1 s
        self.reactor.advance(1)
        self.assertEqual(len(self.reactor.spawned), 3)
        self.assertEqual(child.exits, 2)
        stopped = self.launcher.stop("r")
        self.reactor.spawned[2].exit(None, 15)
        self.assertEqual(self.successResultOf(stopped), -15)
        self.assertEqual(self.successResultOf(ended), -15)
        self.reactor.advance(100)
        self.assertEqual(len(self.reactor.spawned), 3)

    def test_stop_while_a_restart_is_pending(self) -> None:
        child = self.launcher.spawn("r", ["prog"], restart=True)
        self.reactor.spawned[0].exit(2)
        self.assertEqual(self.successResultOf(self.launcher.stop("r")), 2)
        self.reactor.advance(100)
        self.assertEqual(len(self.reactor.spawned), 1)
        self.assertTrue(child.over)

    def test_a_running_name_cannot_be_reused_but_an_ended_one_can(self) -> None:
        self.launcher.spawn("a", ["prog"])
        self.assertRaises(ValueError, self.launcher.spawn, "a", ["prog"])
        self.reactor.spawned[0].exit(0)
        child = self.launcher.spawn("a", ["prog"], output=self.logs / "x" / "elsewhere.out")
        self.assertEqual(child.output, self.logs / "x" / "elsewhere.out")
        self.assertTrue(child.output.exists())

    def test_the_trampoline_wraps_the_command(self) -> None:
        launcher = Launcher(self.reactor, self.logs, die_with_launcher=True)
        launcher.spawn("a", ["prog", "arg"])
        argv = self.reactor.spawned[0].argv
        self.assertEqual(argv[:3], [sys.executable, "-c", TRAMPOLINE])
        self.assertEqual(argv[3:], [str(os.getpid()), "prog", "arg"])

    def test_commands_come_from_the_installed_package(self) -> None:
        self.assertEqual(module_command("herd.places.cli.up"), [sys.executable, "-m", "herd.places.cli.up"])
        self.assertNotIn("/bin/" + "server.py", " ".join(twistd_command()))
        self.assertIsInstance(Child("a", [], Path("x"), False).tail(), str)


class RealProcessTests(TestCase):
    """One real child: output in its file, exit status, SIGTERM through the trampoline."""

    def test_real_children(self) -> defer.Deferred[None]:
        from twisted.internet import reactor

        logs = Path(tempfile.mkdtemp())
        launcher = Launcher(reactor, logs)
        launcher.startService()

        async def run() -> None:
            quick = launcher.spawn("quick", [sys.executable, "-c", "import sys; print('hello'); sys.exit(3)"])
            self.assertEqual(await quick.ended, 3)
            self.assertEqual((logs / "quick.out").read_text(), "hello\n")
            self.assertIn("hello", quick.tail())
            slow = launcher.spawn("slow", [sys.executable, "-c", "import time; time.sleep(60)"])
            async def execd() -> bool:  # the trampoline became the command, same pid
                return b"time.sleep(60)" in Path(f"/proc/{slow.pid}/cmdline").read_bytes()

            await wait_until(reactor, execd, 10, "the trampoline to exec")
            self.assertEqual(await launcher.stop("slow", grace=10), -15)
            await launcher.stopService()

        return defer.Deferred.fromCoroutine(run())
