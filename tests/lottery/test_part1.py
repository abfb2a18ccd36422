"""Part 1 of the seed: the compose generator, the echo server and its netcat check."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from herd.core.launcher import twistd_command as twistd
from herd.testing.processes import LOOPBACK, ProcessGroup, free_port, tcp_accepts, wait_for
from tests.checkout import BIN


@pytest.mark.parametrize("clients", [0, 1, 5])
def test_the_compose_file_has_the_seeds_structure(tmp_path: Path, clients: int) -> None:
    path = tmp_path / "docker-compose-dev.yaml"
    done = subprocess.run([str(BIN / "generar-compose.sh"), str(path), str(clients)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    compose = yaml.safe_load(path.read_text())
    assert compose["name"] == "tp0"
    names = [f"client{n}" for n in range(1, clients + 1)]
    assert list(compose["services"]) == ["server", *names]
    server = compose["services"]["server"]
    assert server["container_name"] == "server" and server["networks"] == ["testing_net"]
    assert f"--agencies {clients}" in server["entrypoint"]
    assert any(volume.endswith(":/lottery/config") for volume in server["volumes"])
    for n, name in enumerate(names, 1):
        client = compose["services"][name]
        assert client["container_name"] == name and client["image"] == "client:latest"
        assert f"CLI_ID={n}" in client["environment"]
        assert client["depends_on"] == ["server"] and client["networks"] == ["testing_net"]
        assert any(volume.endswith(":/lottery/config") for volume in client["volumes"])
    network = compose["networks"]["testing_net"]["ipam"]
    assert network["config"] == [{"subnet": "172.25.125.0/24"}]


def test_the_compose_generator_refuses_bad_arguments(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "generar-compose.sh"), str(tmp_path / "x.yaml"), "many"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage" in done.stderr


@pytest.mark.e2e
def test_the_echo_server_echoes_and_the_check_says_so(tmp_path: Path) -> None:
    if shutil.which("nc") is None:
        pytest.skip("netcat is not installed (make test installs netcat-openbsd)")
    port = free_port()
    check = [str(BIN / "validar-echo-server.sh"), LOOPBACK, str(port)]
    done = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert (done.stdout, done.returncode) == ("action: test_echo_server | result: fail\n", 1)
    with ProcessGroup(tmp_path) as group:
        group.start("echo", [*twistd(), "-n", "--pidfile=", "echo-server", "--port", str(port),
                             "--interface", LOOPBACK])
        wait_for(lambda: tcp_accepts(port), 30, "the echo server")
        done = subprocess.run(check, capture_output=True, text=True, timeout=30)
        assert (done.stdout, done.returncode) == ("action: test_echo_server | result: success\n", 0)
        with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
            sock.sendall("hola, ñandú".encode())
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(1024) == "hola, ñandú\n".encode()
        assert group.stop("echo") == 0
        output = group.output("echo")
    assert "action: receive_message | result: success | ip: 127.0.0.1 | msg: hola, ñandú" in output
    assert "action: exit | result: success" in output
