"""Shared fixtures: real parts (a private Mosquitto per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# --modem-port / --board-port / --board: the HIL suites against real hardware.
from hardware_options import (  # noqa: F401
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    real_board,
    real_modem,
)

from hil.mosquitto import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free loopback port, with persistence, stopped after the test."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.stop()
