"""The twistd commands' options, and the server's demo user when it has no users file."""

from __future__ import annotations

import re
import tempfile

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from herd.core.passwords import verify_password
from herd.imaging.accounts import Accounts
from herd.imaging.controller import tap as server_tap
from herd.imaging.controller.registry import WorkerRegistry
from herd.imaging.controller.scheduler import Scheduler
from herd.imaging.controller.store import Store
from herd.imaging.worker import tap as worker_tap
from herd.testing.imaging import in_thread_now


class WorkerOptionsTests(SynchronousTestCase):
    def test_the_seeds_flags(self) -> None:
        options = worker_tap.Options()
        options.parseOptions(["--controller", "10.0.0.5:8081", "--worker-name", "w1",
                              "--tags", "gpu, big,,gpu"])
        self.assertEqual((options["address"], options["worker-name"], options["tag-list"]),
                         (("10.0.0.5", 8081), "w1", ["big", "gpu"]))

    def test_missing_or_bad_flags(self) -> None:
        for argv in (["--worker-name", "w"], ["--controller", "h:1"],
                     ["--controller", "nohost", "--worker-name", "w"],
                     ["--controller", "h:99999", "--worker-name", "w"]):
            self.assertRaises(UsageError, worker_tap.Options().parseOptions, argv)


class ServerTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = server_tap.Options()
        options.parseOptions([])
        self.assertEqual((options["port"], options["interface"], options["controller-port"],
                          options["controller-interface"], options["token-ttl"]),
                         (8080, "127.0.0.1", 8081, "0.0.0.0", 3600.0))

    def test_an_unreadable_users_file_is_a_usage_error(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".users") as out:
            out.write("alice:plaintext\n")
            out.flush()
            self.assertRaises(UsageError, server_tap.Options().parseOptions, ["--users", out.name])

    def test_without_users_a_demo_user_and_its_password_in_the_log(self) -> None:
        store = Store(":memory:")
        clock = Clock()
        accounts = Accounts(store, clock, 60, in_thread_now)
        registry = WorkerRegistry(store, clock, 5, str, str)
        service = server_tap.ImagingService(clock, accounts, store, registry,
                                            Scheduler(store, registry, clock), None)
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        try:
            service.load_users()
        finally:
            globalLogPublisher.removeObserver(events.append)
        password = [e["password"] for e in events if "password" in e][0]
        self.assertTrue(re.match(r"^[\w-]{16}$", password))
        self.assertTrue(verify_password(password, store.password_hash("demo")))
