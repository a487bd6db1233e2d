"""Emulated modems on real PTYs, served from the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hil.modem import scenario
from hil.modem.emulator import ModemEmulator

StartEmulator = Callable[..., Awaitable[ModemEmulator]]


@pytest.fixture
async def emulator() -> AsyncIterator[StartEmulator]:
    """start(dialect, scenario="healthy", link=None) -> a running ModemEmulator; all are closed
    after the test."""
    started: list[ModemEmulator] = []

    async def start(dialect: str, name: str = "healthy", link: Path | None = None) -> ModemEmulator:
        emu = ModemEmulator(scenario.load(dialect, name), link)
        await emu.start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.aclose()
