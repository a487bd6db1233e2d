"""pytest options for running the HIL suites against real hardware instead of the emulators.

    pytest --modem-port /dev/ttyUSB2 [--modem-dialect quectel]    a real modem's AT port
    pytest --board lilygo-t-sim7600 --board-port /dev/ttyACM0    a real ESP32 board

Tests that need an emulator's fault injection (a modem that hangs on command, a PTY that goes
away) are marked `@pytest.mark.emulator_only` and are skipped, by name, when a real device is
given: real hardware cannot be told to misbehave on cue.
Imported by tests/conftest.py.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qiyas hardware", "run the HIL suites against real devices")
    group.addoption("--modem-port", metavar="PORT", help="a real modem's AT port")
    group.addoption("--modem-dialect", metavar="NAME", default="auto",
                    help="its dialect (default auto)")  # fmt: skip
    group.addoption("--board-port", metavar="PORT", help="a real ESP32 board's USB serial port")
    group.addoption("--board", metavar="NAME", help="its board profile (qiyas boards list)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator_only: needs an emulator's fault injection; skipped on real hardware"
    )
    if bool(config.getoption("--board-port")) != bool(config.getoption("--board")):
        raise pytest.UsageError("--board-port and --board go together")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    device = config.getoption("--modem-port") or config.getoption("--board-port")
    if not device:
        return
    skip = pytest.mark.skip(reason=f"emulator only: fault injection is not possible on {device}")
    for item in items:
        if "emulator_only" in item.keywords:
            item.add_marker(skip)


class RealModem:
    def __init__(self, port: str, dialect: str) -> None:
        self.port = port
        self.dialect = dialect


class RealBoard:
    def __init__(self, name: str, port: str) -> None:
        self.name = name
        self.port = port


@pytest.fixture
def real_modem(request: pytest.FixtureRequest) -> RealModem | None:
    """The real modem given with --modem-port, or None (use an emulator)."""
    port = request.config.getoption("--modem-port")
    return RealModem(port, request.config.getoption("--modem-dialect")) if port else None


@pytest.fixture
def real_board(request: pytest.FixtureRequest) -> RealBoard | None:
    """The real ESP32 board given with --board and --board-port, or None."""
    port = request.config.getoption("--board-port")
    return RealBoard(request.config.getoption("--board"), port) if port else None
