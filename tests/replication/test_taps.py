"""The twistd commands' options, named and in the seed's positional forms, and their services."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.python.usage import UsageError

from herd.replication.cluster import DEFAULT
from herd.replication.gfd.tap import Options as GfdOptions
from herd.replication.lfd.tap import Options as LfdOptions, makeService as lfd_service
from herd.replication.replica.tap import Options as ReplicaOptions, makeService as replica_service
from herd.replication.rm.tap import Options as RmOptions, makeService as rm_service


def parsed(options, *argv: str):  # noqa: ANN001, ANN201
    options.parseOptions(list(argv))
    return options


def test_the_seeds_positional_forms() -> None:
    replica = parsed(ReplicaOptions(), "S1", "127.0.0.1", "10")
    assert (replica["name"], replica["interface"], replica["checkpoint-freq"]) == ("S1", "127.0.0.1", 10.0)
    rm = parsed(RmOptions(), "127.0.0.1", "active")
    assert (rm["mode"], rm["interface"]) == ("active", "127.0.0.1")
    gfd = parsed(GfdOptions(), "127.0.0.1", "10")
    assert gfd["heartbeat-freq"] == 10.0
    lfd = parsed(LfdOptions(), "10", "LFD1", "S1", "127.0.0.1:8003", "127.0.0.1:8000")
    assert (lfd["name"], lfd["heartbeat-freq"]) == ("LFD1", 10.0)


def test_the_named_forms_and_the_default_cluster() -> None:
    replica = parsed(ReplicaOptions(), "--name", "S2", "--checkpoint-freq", "0.5")
    assert replica["cluster"] == str(DEFAULT) and replica["checkpoint-freq"] == 0.5
    assert parsed(RmOptions(), "--mode", "passive")["mode"] == "passive"
    assert parsed(LfdOptions(), "--name", "LFD3", "--heartbeat-freq", "0.2")["heartbeat-freq"] == 0.2


@pytest.mark.parametrize("options,argv", [
    (ReplicaOptions, ["--name", "S9"]), (ReplicaOptions, []), (RmOptions, []),
    (RmOptions, ["--mode", "sideways"]), (LfdOptions, ["--name", "LFD9"]),
    (LfdOptions, ["1", "LFD1", "S2"]), (GfdOptions, ["--heartbeat-freq", "-1"]),
    (ReplicaOptions, ["--name", "S1", "--cluster", "/nonexistent.json"]),
])
def test_bad_command_lines_are_refused(options, argv: list[str]) -> None:  # noqa: ANN001
    with pytest.raises(UsageError):
        options().parseOptions(argv)


def test_the_services_are_built_without_starting(tmp_path: Path) -> None:
    logs = str(tmp_path / "logs")
    replica = replica_service(parsed(ReplicaOptions(), "--name", "S1", "--logs", logs))
    assert len(list(replica)) == 2 + 1 + 2  # console, stop, port, links to S2 and S3
    lfd = lfd_service(parsed(LfdOptions(), "--name", "LFD1", "--logs", logs))
    assert len(list(lfd)) == 5  # console, launcher, detector, link to S1, link to the GFD
    assert len(list(rm_service(parsed(RmOptions(), "--mode", "active")))) == 2
