"""`qiyas hil modem` and `qiyas modem info` as a technician and a test harness run them."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.modem import driver as driver_module
from agent.modem.driver import ModemDriver, ModemSettings

pytestmark = pytest.mark.timeout(60)

QIYAS = [sys.executable, "-m", "tools.cli"]
ROOT = Path(__file__).resolve().parents[2]


class Emulator:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*QIYAS, "hil", "modem", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        assert ready, "the emulator printed nothing in 15 s"
        first = self.proc.stdout.readline()
        assert first, f"the emulator exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.where: dict[str, str] = json.loads(first)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def emulators() -> Iterator[list[Emulator]]:
    started: list[Emulator] = []
    yield started
    for emu in started:
        emu.stop()


def _qiyas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QIYAS, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_emulator_prints_its_port_first_and_modem_info_reads_it(emulators: list[Emulator]) -> None:
    emu = Emulator("--dialect", "quectel", "--scenario", "nsa")
    emulators.append(emu)
    assert list(emu.where) == ["port"] and emu.where["port"].startswith("/dev/pts/")
    done = _qiyas("modem", "info", "--port", emu.where["port"], "--json")
    assert done.returncode == 0, done.stderr
    info: dict[str, Any] = json.loads(done.stdout)
    # the contract of the issue: these keys, null where the modem gave nothing
    assert info["dialect"] == "quectel"
    assert (info["manufacturer"], info["model"]) == ("Quectel", "RM520N-GL")
    assert info["revision"] == "RM520NGLAAR03A03M4G"
    assert info["sim"]["ready"] is True
    assert info["registration"] == {"state": "home", "tech": "NR5G-NSA"}
    assert info["operator"] == {"mcc": "262", "mnc": "01", "name": "Telekom.de"}
    cell = info["serving_cell"]
    for key in (
        "tech",
        "cell_id",
        "pci",
        "tac",
        "arfcn",
        "band",
        "rsrp_dbm",
        "rsrq_db",
        "sinr_db",
        "rssi_dbm",
    ):
        assert key in cell
    assert cell["tech"] == "LTE" and cell["cell_id"] == 0x1A2D003 and cell["tac"] == 0x2B5C
    assert (cell["rsrp_dbm"], cell["rsrq_db"], cell["rssi_dbm"]) == (-95, -10, -65)
    assert cell["sinr_db"] is None  # the RM5xx LTE SINR coding is not settled (docs/modems.md)
    assert (
        info["nr"]["band"] == "n78" and info["nr"]["pci"] == 345 and info["nr"]["cell_id"] is None
    )
    assert [c["band"] for c in info["ca"]] == ["B3", "B20", "n78"]
    # the human form goes to stderr, through rich
    human = _qiyas("modem", "info", "--port", emu.where["port"])
    assert human.returncode == 0 and human.stdout == ""
    assert "RM520N-GL" in human.stderr and "NR leg" in human.stderr


def test_modem_info_on_a_port_that_does_not_exist() -> None:
    done = _qiyas("modem", "info", "--port", "/dev/ttyUSB99", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "no such port '/dev/ttyUSB99'" in done.stderr and "Traceback" not in done.stderr


def test_modem_info_on_a_modem_that_does_not_answer(emulators: list[Emulator]) -> None:
    emu = Emulator("--dialect", "telit", "--scenario", "hang")
    emulators.append(emu)
    # the first five commands are answered; the sixth (AT+CPIN?) is not
    done = _qiyas("modem", "info", "--port", emu.where["port"], "--json", "--timeout", "0.3")
    assert done.returncode == 1
    assert "no answer to" in json.loads(done.stdout)["error"]
    assert "not answering" in done.stderr and "Traceback" not in done.stderr


def test_emulator_rejects_unknown_and_mismatched_scenarios() -> None:
    done = _qiyas("hil", "modem", "--dialect", "quectel", "--scenario", "on-fire")
    assert done.returncode == 2 and "unknown scenario 'on-fire'" in done.stderr
    assert "weak-signal" in done.stderr  # lists what exists
    done = _qiyas("hil", "modem", "--dialect", "sierra", "--scenario", "nsa")
    assert (
        done.returncode == 2 and "written for quectel, simcom, fibocom, not sierra" in done.stderr
    )
    listing = json.loads(_qiyas("hil", "modem", "--list").stdout)
    assert "telit" in listing["dialects"] and "hang" in listing["scenarios"]


@pytest.fixture
def quick_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "RESYNC_TIMEOUT_S", 0.2)


@pytest.mark.usefixtures("quick_resync")
async def test_hung_modem_is_brought_back_by_the_boards_power_cycle_command(
    emulators: list[Emulator],
) -> None:
    emu = Emulator("--dialect", "quectel", "--scenario", "hang")
    emulators.append(emu)
    hook = ["kill", "-USR1", str(emu.proc.pid)]  # what a board profile names: a real command
    drv = ModemDriver(
        ModemSettings(
            emu.where["port"], power_cycle_command=hook, boot_wait_s=5, command_timeout_s=0.3
        )
    )
    try:
        first = await drv.poll()
        assert drv.take_recoveries() == ["power-cycle"]
        second = await drv.poll()  # and it stays back: no further recovery
        assert drv.take_recoveries() == []
    finally:
        await drv.aclose()
    assert first == second
    assert first["serving_cell"]["tech"] == "NR5G-SA" and first["serving_cell"]["rsrp_dbm"] == -87


def start_re_enumerating_modem(emulators: list[Emulator], tmp_path: Path) -> tuple[Emulator, Path]:
    """A Fibocom modem that hangs and comes back on a new PTY, reached by a stable by-id link."""
    link = tmp_path / "by-id" / "usb-Quectel_RM520N-GL-if02-port0"
    link.parent.mkdir()
    emu = Emulator("--dialect", "fibocom", "--scenario", "re-enumerate", "--link", str(link))
    emulators.append(emu)
    return emu, link


async def poll_with_hook(link: Path, hook: list[str]) -> tuple[dict[str, Any], list[str]]:
    drv = ModemDriver(
        ModemSettings(str(link), power_cycle_command=hook, boot_wait_s=5, command_timeout_s=0.3)
    )
    try:
        snapshot = await drv.poll()
    finally:
        await drv.aclose()
    return snapshot, drv.take_recoveries()


@pytest.mark.usefixtures("quick_resync")
async def test_a_modem_that_re_enumerates_is_found_again_by_its_stable_path(
    emulators: list[Emulator], tmp_path: Path
) -> None:
    emu, link = start_re_enumerating_modem(emulators, tmp_path)
    before = os.path.realpath(link)
    snapshot, recoveries = await poll_with_hook(link, ["kill", "-USR1", str(emu.proc.pid)])
    assert recoveries == ["power-cycle"]
    assert os.path.realpath(link) != before  # a new PTY: the old device node is gone
    assert snapshot["dialect"] == "fibocom" and snapshot["serving_cell"]["band"] == "n78"


@pytest.mark.usefixtures("quick_resync")
async def test_a_hook_that_returns_before_the_modem_goes_still_finds_the_new_port(
    emulators: list[Emulator], tmp_path: Path
) -> None:
    # uhubctl and GPIO hooks return once power is toggled; the old node can outlive them, so
    # the driver may first open the port that is about to vanish
    emu, link = start_re_enumerating_modem(emulators, tmp_path)
    hook = ["sh", "-c", f"(sleep 0.5; kill -USR1 {emu.proc.pid}) >/dev/null 2>&1 &"]
    snapshot, recoveries = await poll_with_hook(link, hook)
    assert recoveries == ["power-cycle"]
    assert snapshot["dialect"] == "fibocom" and snapshot["serving_cell"]["band"] == "n78"


def test_the_emulator_answers_as_a_captured_module(emulators: list[Emulator]) -> None:
    emu = Emulator("--capture", "fibocom-fm150-lte-vodafone")
    emulators.append(emu)
    done = _qiyas("modem", "info", "--port", emu.where["port"], "--json")
    assert done.returncode == 0, done.stderr
    info: dict[str, Any] = json.loads(done.stdout)
    # identified from the capture's module, read from its own hex +GTCCINFO
    assert (info["dialect"], info["model"]) == ("fibocom", "FM150")
    cell = info["serving_cell"]
    assert (cell["arfcn"], cell["pci"], cell["band"], cell["rsrp_dbm"]) == (6300, 48, "B20", -99)
    listed = json.loads(_qiyas("hil", "modem", "--list").stdout)
    assert "fibocom-fm150-lte-vodafone" in listed["captures"]
    unknown = _qiyas("hil", "modem", "--capture", "no-such-capture")
    assert unknown.returncode != 0 and "unknown capture" in unknown.stderr
