"""The serial driver against every emulated modem and fault, through real PTYs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.core import dialects
from agent.modem import driver as driver_module
from agent.modem.driver import ModemDown, ModemDriver, ModemSettings
from hil.modem.emulator import ModemEmulator
from hil.modem.scenario import models

StartEmulator = Callable[..., Awaitable[ModemEmulator]]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def quick_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    # a real modem gets 3 x 0.5 s to answer AT; an emulator answers in microseconds or never
    monkeypatch.setattr(driver_module, "RESYNC_TIMEOUT_S", 0.2)


def _driver(port: str, **kwargs: Any) -> ModemDriver:
    kwargs.setdefault("command_timeout_s", 1.0)
    kwargs.setdefault("boot_wait_s", 2.0)
    return ModemDriver(ModemSettings(port, **kwargs))


async def _poll(port: str, **kwargs: Any) -> tuple[dict[str, Any], ModemDriver]:
    drv = _driver(port, **kwargs)
    try:
        return await drv.poll(), drv
    finally:
        await drv.aclose()


@pytest.mark.parametrize("dialect", models())
async def test_healthy_modem_of_every_dialect(emulator: StartEmulator, dialect: str) -> None:
    emu = await emulator(dialect)
    snapshot, drv = await _poll(emu.port)
    assert snapshot["dialect"] == dialect  # auto-detected from +CGMI/+CGMM
    assert snapshot["sim"] == {"ready": True, "status": "READY"}
    assert snapshot["registration"]["state"] == "home"
    assert snapshot["operator"] == {"mcc": "262", "mnc": "01", "name": "Telekom.de"}
    cell = snapshot["serving_cell"]
    assert cell["tech"] == snapshot["registration"]["tech"]
    assert cell["rsrp_dbm"] is not None and -100 <= cell["rsrp_dbm"] <= -85
    assert cell["cell_id"] is not None
    # only the 5GS registration query may be unsupported (4G modules): every vendor command answered
    assert drv.last_poll is not None
    errors = [note for note in drv.last_poll.notes if note.endswith("ERROR")]
    assert all(note.startswith("AT+C5GREG?") for note in errors), drv.last_poll.notes
    assert "869710030002905" not in repr(snapshot)  # no IMEI in a poll


async def test_a_modem_without_cgmi_is_still_identified_by_its_model(
    emulator: StartEmulator,
) -> None:
    emu = await emulator("quectel")
    emu.scenario.responses["AT+CGMI"] = "ERROR"
    snapshot, drv = await _poll(emu.port)
    assert snapshot["manufacturer"] is None  # unknown, not guessed
    assert (snapshot["model"], snapshot["dialect"]) == ("RM520N-GL", "quectel")
    assert emu.answered > 0 and drv.identity is not None


async def test_the_board_can_name_the_dialect(emulator: StartEmulator) -> None:
    emu = await emulator("quectel")
    snapshot, _ = await _poll(emu.port, dialect="generic")
    assert snapshot["dialect"] == "generic"
    assert snapshot["ca"] is None  # the Quectel-only reading was not asked for
    assert snapshot["serving_cell"]["rsrp_dbm"] == -87  # the 27.007 reading still there


@pytest.mark.parametrize("dialect", ["quectel", "simcom", "fibocom"])
async def test_nsa_reports_the_lte_anchor_and_the_nr_leg(
    emulator: StartEmulator, dialect: str
) -> None:
    emu = await emulator(dialect, "nsa")
    snapshot, _ = await _poll(emu.port)
    assert snapshot["registration"] == {"state": "home", "tech": "NR5G-NSA"}
    assert snapshot["serving_cell"]["tech"] == "LTE" and snapshot["serving_cell"]["band"] == "B3"
    assert snapshot["nr"]["tech"] == "NR5G-NSA" and snapshot["nr"]["band"] == "n78"
    assert snapshot["nr"]["rsrp_dbm"] == -92


@pytest.mark.parametrize("dialect", models())
async def test_no_sim(emulator: StartEmulator, dialect: str) -> None:
    emu = await emulator(dialect, "no-sim")
    snapshot, _ = await _poll(emu.port)
    assert snapshot["sim"] == {"ready": False, "status": "not inserted"}
    assert snapshot["registration"]["state"] == "not-registered"
    assert snapshot["operator"] == {"mcc": None, "mnc": None, "name": None}
    assert snapshot["serving_cell"]["rsrp_dbm"] is None  # unknown, not 0


@pytest.mark.parametrize("dialect", models())
async def test_searching(emulator: StartEmulator, dialect: str) -> None:
    emu = await emulator(dialect, "searching")
    snapshot, _ = await _poll(emu.port)
    assert snapshot["sim"]["ready"] is True
    assert snapshot["registration"] == {"state": "searching", "tech": None}
    assert snapshot["serving_cell"]["tech"] is None and snapshot["serving_cell"]["rsrp_dbm"] is None


@pytest.mark.parametrize("dialect", models())
async def test_weak_signal(emulator: StartEmulator, dialect: str) -> None:
    emu = await emulator(dialect, "weak-signal")
    snapshot, _ = await _poll(emu.port)
    cell = snapshot["serving_cell"]
    assert cell["rsrp_dbm"] is not None and -130 <= cell["rsrp_dbm"] <= -120
    assert cell["rsrq_db"] is not None and cell["rsrq_db"] <= -15


LINE_FAULTS = [(d, n) for d in models() for n in ("echo-on", "urc-flood", "garbage")]


@pytest.mark.parametrize(
    ("dialect", "name"), [*LINE_FAULTS, ("quectel", "slow"), ("sierra", "slow")]
)
async def test_line_faults_do_not_change_the_reading(
    emulator: StartEmulator, dialect: str, name: str
) -> None:
    healthy = await emulator(dialect)
    expected, _ = await _poll(healthy.port)
    faulty = await emulator(dialect, name)
    snapshot, drv = await _poll(faulty.port)
    assert snapshot == expected
    assert drv.take_recoveries() == []
    if name == "urc-flood":
        # 30 per answer; a "+CEREG: 1" inside the answer to AT+CEREG? carries that command's
        # prefix, so it is read as part of the answer (and ignored by its parser)
        assert drv.last_poll is not None
        assert 30 * (len(dialects.plan(dialect)) - 1) <= drv.last_poll.urc_count
    if name == "garbage":
        assert drv.session.noise_lines >= len(dialects.plan(dialect))


async def test_a_poll_cancelled_mid_command_leaves_the_driver_usable(
    emulator: StartEmulator,
) -> None:
    emu = await emulator("quectel", "slow")  # 150 ms an answer: cancel in the middle of one
    drv = _driver(emu.port)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(drv.poll(), 0.5)
        assert drv.session.busy  # the cancelled command's answer is still on its way ...
        snapshot = await drv.poll()  # ... and this poll waits it out before its own first command
    finally:
        await drv.aclose()
    assert snapshot["serving_cell"]["band"] == "n78" and snapshot["dialect"] == "quectel"


async def test_a_modem_that_reboots_mid_poll_is_read_again(emulator: StartEmulator) -> None:
    emu = await emulator("simcom", "reboot")
    expected, _ = await _poll((await emulator("simcom")).port)
    started = time.monotonic()
    snapshot, drv = await _poll(emu.port, command_timeout_s=10.0)
    assert snapshot == expected
    assert drv.take_recoveries() == ["resync"]
    # the RDY ended the poll at once: no wait for the 10 s timeout of the lost command
    assert time.monotonic() - started < 5


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()
        }
    return {path: value}


async def test_a_reboot_anywhere_in_200_polls_never_gives_a_wrong_value(
    emulator: StartEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the RDY-mid-poll scenario, the reboot moved through every command of identification and
    # plan, 200 times over one driver: no field may ever differ from the healthy modem's
    monkeypatch.setattr(driver_module, "RESYNC_TIMEOUT_S", 0.05)
    expected, _ = await _poll((await emulator("simcom")).port)
    truth = _leaves(expected)
    emu = await emulator("simcom", "reboot")
    emu.scenario.behaviour["boot_ms"] = 2
    emu.scenario.behaviour["echo"] = True  # as a real module, it comes back from a reset with ATE1
    # each poll identifies the modem again, so the reboot also lands inside +CGMI/+CGMM/+CGMR
    positions = len(dialects.IDENTIFY) + len(dialects.plan("simcom"))
    drv = _driver(emu.port, command_timeout_s=2.0, boot_wait_s=0.5)
    wrong: list[tuple[int, str, Any]] = []
    complete = recovered = 0
    try:
        for poll in range(200):
            emu.reboot_again(1 + poll % positions)
            drv.identity = None
            snapshot = await drv.poll()
            recovered += len(drv.take_recoveries())
            leaves = _leaves(snapshot)
            wrong += [(poll, k, v) for k, v in leaves.items() if v is not None and truth[k] != v]
            complete += leaves == truth
    finally:
        await drv.aclose()
    assert wrong == []
    assert complete == 200  # and the driver's recovery brought every poll back in full
    assert recovered == emu.reboots == 200  # each poll had its reboot, and came back from it


async def test_a_hung_modem_without_a_power_cycle_hook_is_reported_down(
    emulator: StartEmulator,
) -> None:
    emu = await emulator("quectel", "hang")
    drv = _driver(emu.port, command_timeout_s=0.3, boot_wait_s=0.2)
    try:
        with pytest.raises(ModemDown) as info:
            await drv.poll()
    finally:
        await drv.aclose()
    text = str(info.value)
    assert "no answer to AT" in text
    assert "resync, reopen, power-cycle (no hook in the board profile)" in text


async def test_power_cycle_hook_in_process(emulator: StartEmulator) -> None:
    """The hook is a real command (a child process signalling this one); the emulator serves from
    this process's loop and power-cycles on the signal."""
    emu = await emulator("huawei", "hang")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, emu.power_cycle)
    try:
        hook = [sys.executable, "-c", f"import os, signal; os.kill({os.getpid()}, signal.SIGUSR1)"]
        snapshot, drv = await _poll(emu.port, power_cycle_command=hook, command_timeout_s=0.3)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert emu.power_cycles == 1
    assert drv.take_recoveries() == ["power-cycle"]
    assert snapshot["dialect"] == "huawei" and snapshot["serving_cell"]["rsrp_dbm"] == -96


async def test_a_failing_power_cycle_hook_is_named(emulator: StartEmulator) -> None:
    emu = await emulator("quectel", "hang")
    hook = [sys.executable, "-c", "import sys; sys.exit('relay not found')"]
    with pytest.raises(ModemDown) as info:
        await _poll(emu.port, power_cycle_command=hook, command_timeout_s=0.3, boot_wait_s=0.2)
    assert "power-cycle command" in str(info.value) and "relay not found" in str(info.value)


async def test_a_port_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ModemDown) as info:
        await _poll(str(tmp_path / "ttyUSB2"), boot_wait_s=0.2)
    assert "cannot open" in str(info.value) and "ttyUSB2" in str(info.value)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_nothing_leaks_over_1000_polls(emulator: StartEmulator) -> None:
    """1,000 polls, with the port closed and reopened every 100: file descriptors and tasks
    come back to where they started."""
    emu = await emulator("generic")
    drv = _driver(emu.port)
    await drv.poll()  # warm-up: imports, executor threads, the loop's own fds
    await drv.aclose()
    fds, tasks = _open_fds(), len(asyncio.all_tasks())
    for i in range(1000):
        snapshot = await drv.poll()
        assert snapshot["serving_cell"]["rsrp_dbm"] == -95
        if i % 100 == 99:
            await drv.aclose()
    await drv.aclose()
    assert _open_fds() == fds
    assert len(asyncio.all_tasks()) == tasks
    assert emu.answered >= 1000 * len(dialects.plan("generic"))
