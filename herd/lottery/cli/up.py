"""``lottery-up N``: a lottery server and N agencies as local processes, on the course's data.

1. unzips the course's data set into ``<workdir>/.data`` (agency ``i`` sends
   ``agency-<((i-1) % 5) + 1>.csv``: beyond five agencies the files are reused);
2. starts ``twistd -n lottery --agencies N`` on a fresh store (``<workdir>/store``);
3. starts N ``agency`` processes at once, each with its own log (``<workdir>/logs``);
4. waits for them, prints each agency's winner count, and stops the server.

Ctrl-C (or SIGTERM) stops every process; the exit status is 0 when every agency succeeded.
Processes are started and stopped by ``herd.core.launcher``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from twisted.internet import defer

from herd.core.launcher import Launcher, module_command, run_launcher, tcp_accepts, twistd_command, wait_until
from herd.lottery.dataset import DATASET_ZIP, course_dataset
from herd.lottery.logs import actions

LOOPBACK = "127.0.0.1"


def parse_arguments(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lottery-up", description=__doc__.splitlines()[0])
    p.add_argument("agencies", type=int, help="how many agencies (1 or more)")
    p.add_argument("--port", type=int, default=12345, help="server port (default 12345)")
    p.add_argument("--workdir", type=Path, default=Path("logs/lottery"),
                   help="data, store and logs go here (default logs/lottery)")
    p.add_argument("--max-amount", type=int, default=100, help="bets per batch (default 100)")
    p.add_argument("--dataset", type=Path, default=DATASET_ZIP, help="the course's dataset.zip")
    args = p.parse_args(argv)
    if args.agencies < 1:
        p.error("at least one agency")
    return args


def winners_line(output: str) -> str:
    """What an agency's log says of its winners."""
    found = actions(output, "consulta_ganadores")
    if found and found[-1][1] == "success":
        return f"{found[-1][2].get('cant_ganadores', '?')} winners"
    failed = [fields.get("error", "") for _, result, fields in actions(output) if result == "fail"]
    return "failed: " + (failed[-1] if failed else "see its log")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the lottery once; the exit status says whether every agency succeeded."""
    args = parse_arguments(argv)
    workdir = args.workdir.resolve()
    logs = workdir / "logs"
    store = workdir / "store"

    async def up(reactor: Any, launcher: Launcher) -> int:
        if await tcp_accepts(reactor, LOOPBACK, args.port):
            print(f"error: something already listens on port {args.port}; use --port", file=sys.stderr)
            return 1
        files = course_dataset(workdir, args.dataset)
        shutil.rmtree(store, ignore_errors=True)  # a fresh lottery: one draw per store
        server = launcher.spawn("server", [
            *twistd_command(), "-n", "--pidfile=", "lottery", "--agencies", str(args.agencies),
            "--port", str(args.port), "--interface", LOOPBACK, "--store", str(store)], cwd=str(workdir))

        async def listening() -> bool:
            if not server.running:
                raise RuntimeError(f"the server exited:\n{server.tail()}")
            return await tcp_accepts(reactor, LOOPBACK, args.port)

        await wait_until(reactor, listening, 30, f"the server to listen on port {args.port}")
        print(f"server listening on {LOOPBACK}:{args.port}; store {store}", flush=True)
        agencies = {}
        for agency in range(1, args.agencies + 1):
            dataset = files[(agency - 1) % len(files) + 1]
            agencies[agency] = launcher.spawn(f"agency-{agency}", [
                *module_command("herd.lottery.cli.agency"), "--id", str(agency),
                "--server", f"{LOOPBACK}:{args.port}", "--dataset", str(dataset),
                "--max-amount", str(args.max_amount)], cwd=str(workdir))
        print(f"{args.agencies} agencies sending; logs in {logs}", flush=True)
        codes = await defer.gatherResults([child.ended for child in agencies.values()],
                                         consumeErrors=True)
        for (agency, child), code in zip(agencies.items(), codes):
            output = (logs / f"agency-{agency}.out").read_text(encoding="utf-8", errors="replace")
            print(f"agency {agency}: {winners_line(output)} (exit {code})", flush=True)
        status = await launcher.stop("server")
        print(f"server stopped (exit {status})", flush=True)
        return 0 if all(code == 0 for code in codes) else 1

    def on_signal(name: str) -> int:
        print(f"{name}: stopping the server and the agencies", flush=True)
        return 0

    logs.mkdir(parents=True, exist_ok=True)
    return run_launcher(up, logs, on_signal=on_signal)


if __name__ == "__main__":
    sys.exit(main())
