"""The `radio` source: settings from board profile and agent config, records that validate
against record.cddl, the access-link context, and what happens when the modem goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pycddl
import pytest

from agent import config as agent_config
from agent.boards import Board
from agent.core import record
from agent.core.cbor import dumps
from agent.modem import driver as driver_module
from agent.modem import source
from agent.sources import LinkState, load_factory
from hil.modem.emulator import ModemEmulator

StartEmulator = Callable[..., Awaitable[ModemEmulator]]
CDDL = (Path(__file__).resolve().parents[2] / "agent/core/record.cddl").read_text()
VERSIONS = {"agent": "0.1.0", "board": "test", "firmware": "linux"}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def quick_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "RESYNC_TIMEOUT_S", 0.2)


def _config(modem: str = "") -> agent_config.AgentConfig:
    return agent_config.parse(f'probe_id = "p1"\n[schedule]\nradio = 60\n{modem}', "agent.toml")


def _board(**modem: Any) -> Board:
    return Board("test-board", {"platform": "linux", "modem": modem})


def test_settings_come_from_the_board_and_the_config_overrides_port_dialect_baud() -> None:
    board = _board(
        port="/dev/serial/by-id/usb-Quectel-if02",
        baud=115200,
        dialect="auto",
        power_cycle_command=["gpioset", "gpiochip0", "17=0"],
        boot_wait_s=20,
        power_key_pin=4,  # ESP32 boards' key: the Linux driver leaves it to the firmware
    )
    settings = source.settings(
        _config('[modem]\nport = "/dev/ttyUSB2"\ndialect = "quectel"'), board
    )
    assert settings.port == "/dev/ttyUSB2" and settings.dialect == "quectel"
    assert settings.baud == 115200 and settings.boot_wait_s == 20
    assert settings.power_cycle_command == ["gpioset", "gpiochip0", "17=0"]


@pytest.mark.parametrize(
    ("board", "modem", "message"),
    [
        ({}, "", "board test-board: modem.port must name the AT port"),
        ({"port": "/dev/x"}, "[modem]\nbaud = 7", "agent.toml: modem.baud must be an integer"),
        (
            {"port": "/dev/x", "dialect": "nokia"},
            "",
            "board test-board: modem.dialect must be auto or one of",
        ),
        (
            {"port": "/dev/x", "power_cycle_command": "reboot"},
            "",
            "modem.power_cycle_command must be a",
        ),
        ({"port": "/dev/x", "boot_wait_s": -1}, "", "modem.boot_wait_s must be"),
        (
            {"port": "/dev/x"},
            '[modem]\npower_cycle_command = ["rm"]',
            "agent.toml: modem.power_cycle_command unknown",
        ),
    ],
)
def test_bad_settings_name_the_file_and_key(
    board: dict[str, Any], modem: str, message: str
) -> None:
    with pytest.raises(agent_config.ConfigError) as info:
        source.settings(_config(modem), _board(**board))
    assert message in str(info.value)


def test_the_radio_schedule_loads_this_source() -> None:
    assert load_factory("radio") is source.make


def _record(kind: str, values: dict[str, Any], link: LinkState) -> bytes:
    return record.encode(
        "p1", 1, 7, 1_795_934_400_000, True, kind, values, VERSIONS, link.context()
    )


@pytest.mark.parametrize(
    ("dialect", "name"), [("quectel", "nsa"), ("telit", "healthy"), ("generic", "no-sim")]
)
async def test_measure_records_the_snapshot_and_sets_the_link_context(
    emulator: StartEmulator, dialect: str, name: str
) -> None:
    emu = await emulator(dialect, name)
    radio = source.make(_config(), _board(port=emu.port, command_timeout_s=1.0))
    link = LinkState()
    try:
        [measurement] = await radio.measure(link)
    finally:
        await radio.aclose()
    assert measurement.kind == "radio"
    payload = _record("radio", measurement.values, link)
    pycddl.Schema(CDDL).validate_cbor(payload)
    decoded = record.decode(payload)
    assert decoded["values"]["dialect"] == dialect
    assert "manufacturer" not in decoded["values"]
    assert "262011234567890" not in repr(decoded)  # Telit's #RFSTS carries the IMSI: never kept
    if name == "nsa":
        assert link.radio is not None
        assert link.radio["tech"] == "NR5G-NSA" and link.radio["nr"]["band"] == "n78"
        assert link.radio["serving_cell"]["rsrp_dbm"] == -95
        # other records carry the context: a health record validates with it too
        health = {"uptime_s": 60, "outbox_depth": 0}
        pycddl.Schema(CDDL).validate_cbor(_record("health", health, link))
    if name == "no-sim":
        assert link.radio == {"registration": "not-registered"}


def test_the_schema_rejects_a_radio_record_in_other_units() -> None:
    values = {
        "dialect": "generic",
        "model": None,
        "revision": None,
        "sim": {"ready": True, "status": "READY"},
        "registration": {"state": "home", "tech": "4G"},  # not a technology the schema knows
        "operator": {"mcc": "262", "mnc": "01", "name": None},
        "serving_cell": {k: None for k in ("tech", "cell_id", "pci", "tac", "arfcn", "band")},
        "nr": None,
        "ca": None,
        "temperature_c": None,
    }
    payload = record.encode("p1", 1, 1, 0, True, "radio", values, VERSIONS)
    with pytest.raises(pycddl.ValidationError):
        pycddl.Schema(CDDL).validate_cbor(payload)
    assert dumps(values)  # well-formed CBOR: it is the schema that refuses it


async def test_a_modem_going_down_and_coming_back(emulator: StartEmulator) -> None:
    """Down: the context is cleared and one status record says why (not one per interval).
    Back: a radio record again, and a status record saying how it was recovered."""
    emu = await emulator("simcom", "hang")
    loop = asyncio.get_running_loop()
    hook = [sys.executable, "-c", "pass"]  # succeeds, but the modem stays hung: still down
    radio = source.make(
        _config(),
        _board(port=emu.port, command_timeout_s=0.3, boot_wait_s=0.2, power_cycle_command=hook),
    )
    link = LinkState()
    try:
        link.radio = {"tech": "LTE"}  # what an earlier poll left: must not outlive the modem
        [down] = await radio.measure(link)  # the hang comes at the sixth command
        assert down.kind == "status" and down.values["event"] == "modem-down"
        assert "no answer to AT" in down.values["detail"]
        assert link.radio is None
        assert await radio.measure(link) == []  # still down: nothing new to say, nothing invented
        pycddl.Schema(CDDL).validate_cbor(_record("status", down.values, link))
        # the real hook: a command that power-cycles the (emulated) modem
        loop.add_signal_handler(signal.SIGUSR1, emu.power_cycle)
        radio.driver.settings.power_cycle_command = [
            sys.executable,
            "-c",
            f"import os, signal; os.kill({os.getpid()}, signal.SIGUSR1)",
        ]
        back = await radio.measure(link)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        await radio.aclose()
    assert [m.kind for m in back] == ["radio", "status"]
    assert back[1].values == {"event": "modem-recovered", "detail": "by power-cycle"}
    assert link.radio is not None and link.radio["serving_cell"]["band"] == "B3"
