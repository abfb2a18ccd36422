#!/usr/bin/env python3
"""The lottery server written the way the seed wrote it: the benchmark's anchor.

A blocking ``socket`` server; each accepted connection becomes a job of a
``multiprocessing`` pool that runs the protocol; the store is a ``BetsStorage`` object
served by a ``multiprocessing.Manager`` (its calls serialized by a lock), and a
``Barrier`` holds the agencies until all have ended. For a fair comparison its store is as
durable as herd's: each BET_BATCH is appended to ``bets.csv`` and fsynced, under the lock,
before its ACKNOWLEDGE (the course's ``store_bets`` opened the file in append mode for each
call; so does this one).

    python benchmarks/lottery_seed_server.py PORT STORE_DIR AGENCIES

Same wire format as herd (``herd.protocols.lottery`` is not imported: the anchor is
self-contained, with the course's own parsing).
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import socket
import struct
import sys
import threading
from multiprocessing.managers import BaseManager

HEADER = struct.Struct("<BII")
REPLY = struct.Struct("<BI")
SIZE = struct.Struct("<I")
POST_BET, BET_BATCH, BET_BATCH_END, GET_WINNERS = range(4)
ACKNOWLEDGE, WINNERS_READY, BETTING_RESULTS = range(3)
WINNING_NUMBER = 7574


class BetsStorage:
    """The shared state: the bets file, the agencies that have ended. Process-safe through
    the manager (one lock around every access, as the seed's)."""

    def __init__(self, directory: str) -> None:
        self._path = os.path.join(directory, "bets.csv")
        self._lock = threading.Lock()
        self._ended: set[int] = set()
        self._totals: dict[int, int] = {}

    def store_bets(self, agency: int, rows: list[list[str]]) -> int:
        with self._lock:
            with open(self._path, "a+", newline="") as stream:
                writer = csv.writer(stream, lineterminator="\n")
                for row in rows:
                    writer.writerow([agency, *row])
                stream.flush()
                os.fsync(stream.fileno())
            self._totals[agency] = self._totals.get(agency, 0) + len(rows)
            return len(rows)

    def end(self, agency: int) -> int:
        with self._lock:
            self._ended.add(agency)
            return self._totals.get(agency, 0)

    def winners(self, agency: int) -> list[str]:
        with self._lock:
            with open(self._path, newline="") as stream:
                return [row[3] for row in csv.reader(stream)
                        if int(row[0]) == agency and int(row[5]) == WINNING_NUMBER]


class StorageManager(BaseManager):
    pass


StorageManager.register("BetsStorage", BetsStorage)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def parse_bet(data: bytes) -> list[str]:
    fields = data.decode("utf-8").split(",")
    if len(fields) != 5:
        raise ValueError("wrong number of fields")
    first, last, document, birthdate, number = fields
    int(document), int(number)
    return [first, last, document, birthdate, number]


def parse_batch(payload: bytes) -> list[list[str]]:
    rows, offset = [], 0
    while offset < len(payload):
        (size,) = SIZE.unpack_from(payload, offset)
        offset += SIZE.size
        rows.append(parse_bet(payload[offset:offset + size]))
        offset += size
    return rows


def handle_client(sock: socket.socket, storage, barrier) -> None:  # type: ignore[no-untyped-def]
    """The protocol, run by a pool worker for one connection."""
    try:
        while True:
            try:
                kind, agency, size = HEADER.unpack(recv_exactly(sock, HEADER.size))
            except ConnectionError:
                return
            if size > 8192 - HEADER.size:
                return
            payload = recv_exactly(sock, size)
            if kind == POST_BET:
                bet = parse_bet(payload)
                storage.store_bets(agency, [bet])
                sock.sendall(REPLY.pack(ACKNOWLEDGE, 4) + SIZE.pack(int(bet[4])))
            elif kind == BET_BATCH:
                count = storage.store_bets(agency, parse_batch(payload))
                sock.sendall(REPLY.pack(ACKNOWLEDGE, 4) + SIZE.pack(count))
            elif kind == BET_BATCH_END:
                total = storage.end(agency)
                sock.sendall(REPLY.pack(ACKNOWLEDGE, 4) + SIZE.pack(total))
                barrier.wait()  # every agency has ended: the draw can be answered
            elif kind == GET_WINNERS:
                documents = ",".join(storage.winners(agency)).encode()
                sock.sendall(REPLY.pack(BETTING_RESULTS, len(documents)) + documents)
            else:
                return
    except (OSError, ValueError):
        return
    finally:
        sock.close()


def main() -> int:
    port, directory, agencies = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    os.makedirs(directory, exist_ok=True)
    manager = StorageManager()
    manager.start()
    storage = manager.BetsStorage(directory)  # type: ignore[attr-defined]
    sync = multiprocessing.Manager()
    barrier = sync.Barrier(agencies)
    pool = multiprocessing.Pool(processes=agencies)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(50)

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"action: config | result: success | port: {port}", flush=True)
    clients = []  # the pool pickles (dups) each socket in a thread of its own: keep ours open
    try:
        while True:
            client, _ = server.accept()
            pool.apply_async(handle_client, (client, storage, barrier))
            clients.append(client)
    finally:
        pool.terminate()
        manager.shutdown()
        sync.shutdown()
        server.close()


if __name__ == "__main__":
    sys.exit(main())
