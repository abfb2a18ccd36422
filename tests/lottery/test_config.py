"""Configuration as the course's worked: file, then environment, then command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.logger import LogLevel
from twisted.python.usage import UsageError

from herd.lottery.agency.config import ConfigError as AgencyConfigError
from herd.lottery.agency.config import load_agency_config, parse_duration
from herd.lottery.server.config import ConfigError, load_server_config
from herd.lottery.server.tap import Options

INI = """[DEFAULT]
SERVER_PORT = 12000
SERVER_IP = 127.0.0.1
SERVER_LISTEN_BACKLOG = 7
LOGGING_LEVEL = DEBUG
"""


def test_server_ini_then_environment_then_command_line(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(INI)
    config = load_server_config({}, {}, ini)
    assert (config.port, config.interface, config.backlog, config.level) == (12000, "127.0.0.1", 7, LogLevel.debug)
    config = load_server_config({}, {"SERVER_PORT": "13000", "LOGGING_LEVEL": "warning"}, ini)
    assert (config.port, config.level, config.backlog) == (13000, LogLevel.warn, 7)
    config = load_server_config({"SERVER_PORT": "14000"}, {"SERVER_PORT": "13000"}, ini)
    assert config.port == 14000 and config.sources["SERVER_PORT"] == "command line"
    assert load_server_config({}, {}, None).port == 12345


@pytest.mark.parametrize("env, says", [
    ({"SERVER_PORT": "70000"}, "SERVER_PORT (from environment)"),
    ({"SERVER_LISTEN_BACKLOG": "many"}, "SERVER_LISTEN_BACKLOG"),
    ({"LOGGING_LEVEL": "LOUD"}, "LOGGING_LEVEL"),
])
def test_server_refuses_a_bad_value_naming_it(env: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        load_server_config({}, env, None)


def test_server_options(tmp_path: Path) -> None:
    options = Options()
    with pytest.raises(UsageError, match="--agencies"):
        options.parseOptions([])
    with pytest.raises(UsageError, match="config file"):
        Options().parseOptions(["--agencies", "5", "--config", str(tmp_path / "missing.ini")])
    options = Options()
    options.parseOptions(["--agencies", "5", "--port", "2000", "--interface", "127.0.0.1"])
    assert options["server"].port == 2000 and options["agencies"] == 5


YAML = """server:
  address: "server:12345"
loop:
  amount: 5
  period: "150ms"
log:
  level: "debug"
batch:
  maxAmount: 40
"""


def test_agency_yaml_then_environment_then_command_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(YAML)
    config = load_agency_config({"id": "3"}, {}, path, tmp_path)
    assert (config.host, config.port, config.loop_amount, config.loop_period) == ("server", 12345, 5, 0.15)
    assert (config.max_amount, config.level, config.socket_timeout) == (40, LogLevel.debug, 15.0)
    assert config.dataset == tmp_path / ".data" / "agency-3.csv"
    assert config.bettor is None
    env = {"CLI_ID": "2", "CLI_BATCH_MAXAMOUNT": "7", "CLI_SERVER_ADDRESS": "127.0.0.1:999",
           "CLI_SOCKET_TIMEOUT": "2s", "CLI_LOOP_PERIOD": "1m30s"}
    config = load_agency_config({}, env, path, tmp_path)
    assert (config.id, config.max_amount, config.port, config.socket_timeout, config.loop_period) == (
        2, 7, 999, 2.0, 90.0)
    config = load_agency_config({"id": "4", "max_amount": "9", "dataset": "x.csv"}, env, path)
    assert (config.id, config.max_amount, config.dataset) == (4, 9, Path("x.csv"))


def test_agency_bettor_of_exercise_5() -> None:
    env = {"CLI_ID": "1", "CLI_BETTOR_NOMBRE": "Santiago Lionel", "CLI_BETTOR_APELLIDO": "Lorca",
           "CLI_BETTOR_DOCUMENTO": "030904465", "CLI_BETTOR_NACIMIENTO": "1999-03-17",
           "CLI_BETTOR_NUMERO": "7574"}
    bettor = load_agency_config({}, env, None).bettor
    assert bettor is not None and bettor.document == "030904465" and bettor.number == 7574
    del env["CLI_BETTOR_NUMERO"]
    with pytest.raises(AgencyConfigError, match="CLI_BETTOR_NUMERO: missing"):
        load_agency_config({}, env, None)
    env["CLI_BETTOR_NUMERO"] = "siete"
    with pytest.raises(AgencyConfigError, match="number"):
        load_agency_config({}, env, None)


@pytest.mark.parametrize("cli, env, says", [
    ({}, {}, "id .default.: missing"),
    ({"id": "0"}, {}, "--id"),
    ({}, {"CLI_ID": "x"}, "CLI_ID"),
    ({"id": "1"}, {"CLI_SERVER_ADDRESS": "nowhere"}, "CLI_SERVER_ADDRESS: not a HOST:PORT"),
    ({"id": "1"}, {"CLI_LOOP_PERIOD": "soon"}, "CLI_LOOP_PERIOD: not a duration"),
    ({"id": "1"}, {"CLI_SOCKET_TIMEOUT": "0s"}, "CLI_SOCKET_TIMEOUT: must be more than zero"),
    ({"id": "1"}, {"CLI_BATCH_MAXAMOUNT": "0"}, "CLI_BATCH_MAXAMOUNT"),
    ({"id": "1"}, {"CLI_LOG_LEVEL": "chatty"}, "CLI_LOG_LEVEL"),
])
def test_agency_refuses_a_bad_value_naming_it(cli: dict, env: dict, says: str) -> None:
    with pytest.raises(AgencyConfigError, match=says):
        load_agency_config(cli, env, None)


def test_agency_refuses_a_broken_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server: [unclosed\n")
    with pytest.raises(AgencyConfigError, match="config file"):
        load_agency_config({"id": "1"}, {}, path)


def test_durations() -> None:
    assert parse_duration("150ms", "x") == pytest.approx(0.15)
    assert parse_duration("1m30s", "x") == 90.0
    assert parse_duration("2", "x") == 2.0
    with pytest.raises(AgencyConfigError):
        parse_duration("5 s", "x")
