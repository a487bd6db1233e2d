"""`qiyas doctor` beside ModemManager: it names ModemManager when ModemManager holds the modem's
AT port (read from ModemManager's own Modem.Ports over a real D-Bus, tests/modem/mm_service.py),
gives the udev rule with the modem's USB ids from sysfs, or reads the modem through ModemManager
when the board says so."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mm_service import MODEM, ModemManagerService, SessionBus, environment
from mm_states import STATES

from tools.doctor.modemmanager import RULE_FILE, ignore_rule, usb_ids

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]

# A modem's USB interface as the kernel lays it out in sysfs. The device path is the one
# `udevadm info` printed for a 3G modem's ttyUSB5 on interface 2 in
# https://txlab.wordpress.com/2016/06/14/udev-rules-for-ttyusb-devices/ (usb-serial: tty ->
# usb-serial port -> USB interface -> USB device); the ids are the Quectel RM520N's, whose
# interface 2 is ttyUSB2, the AT port (ModemManager, src/plugins/quectel/
# 77-mm-quectel-port-types.rules, "Quectel RM520N").
DEVICE = "devices/pci0000:00/0000:00:13.0/usb3/3-1/3-1.3"
INTERFACE = DEVICE + "/3-1.3:1.2"


def fake_sysfs(root: Path, tty: str, acm: bool = False) -> Path:
    usb, interface = root / DEVICE, root / INTERFACE
    interface.mkdir(parents=True)
    (usb / "idVendor").write_text("2c7c\n")
    (usb / "idProduct").write_text("0801\n")
    (interface / "bInterfaceNumber").write_text("02\n")
    # ttyACM: the tty's device is the interface itself (cdc-acm); ttyUSB: a usb-serial port
    port = interface if acm else interface / tty
    port.mkdir(exist_ok=True)
    node = port / "tty" / tty
    node.mkdir(parents=True)
    (node / "device").symlink_to(port)
    (root / "class" / "tty").mkdir(parents=True)
    (root / "class" / "tty" / tty).symlink_to(node)
    return root


def test_the_usb_ids_come_from_the_interface_the_tty_hangs_off(tmp_path: Path) -> None:
    assert usb_ids("ttyUSB2", fake_sysfs(tmp_path / "a", "ttyUSB2")) == ("2c7c", "0801", "02")
    assert usb_ids("ttyACM0", fake_sysfs(tmp_path / "b", "ttyACM0", acm=True)) == (
        "2c7c",
        "0801",
        "02",
    )
    # a UART (ttyAMA0 on a Pi's header) has no USB interface above it; a missing tty, nothing
    uart = tmp_path / "c" / "devices/platform/soc/fe201000.serial/tty/ttyAMA0"
    uart.mkdir(parents=True)
    (uart / "device").symlink_to(uart.parent.parent)
    (tmp_path / "c/class/tty").mkdir(parents=True)
    (tmp_path / "c/class/tty/ttyAMA0").symlink_to(uart)
    assert usb_ids("ttyAMA0", tmp_path / "c") is None
    assert usb_ids("ttyUSB9", tmp_path / "a") is None


def test_the_rule_is_written_as_modemmanagers_own_rules_are() -> None:
    rule = ignore_rule("ttyUSB2", ("2c7c", "0801", "02"))
    lines = rule.splitlines()
    assert lines[0].startswith(f"# {RULE_FILE}")
    # ModemManager's own line for this very port, with its tag swapped for ID_MM_PORT_IGNORE:
    # ATTRS{idVendor}=="2c7c", ATTRS{idProduct}=="0801", ENV{.MM_USBIFNUM}=="02",
    # SUBSYSTEM=="tty", ENV{ID_MM_PORT_TYPE_AT_PRIMARY}="1"   (77-mm-quectel-port-types.rules)
    match = 'ATTRS{idVendor}=="2c7c", ATTRS{idProduct}=="0801", ENV{.QIYAS_USBIFNUM}=="02"'
    assert lines[4] == f'SUBSYSTEM=="tty", {match}, ENV{{ID_MM_PORT_IGNORE}}="1"'
    # and the interface number is set the way those files set .MM_USBIFNUM
    assert lines[3] == (
        'SUBSYSTEMS=="usb", ATTRS{bInterfaceNumber}=="?*", '
        'ENV{.QIYAS_USBIFNUM}="$attr{bInterfaceNumber}"'
    )
    assert lines[1].endswith('GOTO="qiyas_modem_end"') and lines[2].endswith(lines[1][-22:])
    assert lines[5] == 'LABEL="qiyas_modem_end"'
    uart = ignore_rule("ttyAMA0", None).splitlines()
    assert uart[1] == 'SUBSYSTEM=="tty", KERNEL=="ttyAMA0", ENV{ID_MM_PORT_IGNORE}="1"'


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    daemon = SessionBus(tmp_path)
    yield daemon
    daemon.stop()


@pytest.fixture
async def service(bus: SessionBus) -> AsyncIterator[ModemManagerService]:
    started = ModemManagerService(**STATES["nsa"])
    await started.start(bus.address)
    yield started
    await started.stop()


async def doctor(tmp_path: Path, board: str, address: str) -> dict[str, dict[str, str]]:
    config = tmp_path / "agent.toml"
    config.write_text(f'probe_id = "p1"\nboard = "{board}"\n[schedule]\nradio = 60\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.cli", "doctor", "-c", str(config), "--json",
        cwd=ROOT, env=environment(address), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 45)
    checks: list[dict[str, Any]] = json.loads(out)["checks"]
    return {c["check"]: c for c in checks}


async def test_doctor_names_modemmanager_holding_the_at_port_and_gives_the_fix(
    tmp_path: Path, bus: SessionBus, service: ModemManagerService
) -> None:
    checks = await doctor(tmp_path, "rpi4-rm520n", bus.address)
    mm = checks["ModemManager"]
    assert mm["status"] == "fail"
    assert mm["reason"].startswith("ModemManager holds ttyUSB2 (modem 0 (Quectel RM520N-GL))")
    # no such USB device on this machine: the rule names the port by its kernel name
    assert ignore_rule("ttyUSB2", None) in mm["fix"]
    assert "systemctl restart ModemManager" in mm["fix"]
    assert 'source = "modemmanager" in boards/rpi4-rm520n.toml' in mm["fix"]
    # the AT checks do not poll a port ModemManager is using
    assert checks["modem port"] == {
        "check": "modem port", "status": "skip", "reason": "ModemManager holds ttyUSB2", "fix": "",
    }  # fmt: skip


async def test_doctor_passes_a_port_modemmanager_ignores(tmp_path: Path, bus: SessionBus) -> None:
    state = STATES["nsa"]["state"]
    ignored = {**state, MODEM: {**state[MODEM], "Ports": [["ttyUSB2", 9], ["ttyUSB3", 3]]}}
    started = ModemManagerService(state=ignored)
    await started.start(bus.address)
    try:
        checks = await doctor(tmp_path, "rpi4-rm520n", bus.address)
    finally:
        await started.stop()
    assert checks["ModemManager"]["status"] == "pass"
    assert "leaves ttyUSB2 alone" in checks["ModemManager"]["reason"]
    assert checks["modem port"]["reason"] == "/dev/ttyUSB2 does not exist"  # polled as usual


async def test_doctor_without_modemmanager_passes(tmp_path: Path, bus: SessionBus) -> None:
    checks = await doctor(tmp_path, "rpi4-rm520n", bus.address)
    assert checks["ModemManager"]["status"] == "pass"
    assert (
        "ttyUSB2 is the agent's alone: ModemManager is not running"
        in (checks["ModemManager"]["reason"])
    )


async def test_doctor_reads_the_modem_through_modemmanager_when_the_board_says_so(
    tmp_path: Path, bus: SessionBus, service: ModemManagerService
) -> None:
    checks = await doctor(tmp_path, "rpi4-rm520n-mm", bus.address)
    assert checks["ModemManager"]["status"] == "pass"
    assert checks["ModemManager"]["reason"] == (
        "modem 0 (Quectel RM520N-GL) on ttyUSB2, read through ModemManager"
    )
    assert checks["modem port"]["status"] == "pass"
    assert "through ModemManager" in checks["modem port"]["reason"]
    assert checks["SIM"]["status"] == "pass"
    assert checks["registration"]["reason"] == "Telekom.de (262-01) on NR5G-NSA"
    assert checks["signal"]["reason"].startswith("RSRP -95 dBm")


async def test_doctor_on_a_modemmanager_board_without_modemmanager_fails_with_the_way_out(
    tmp_path: Path, bus: SessionBus
) -> None:
    checks = await doctor(tmp_path, "rpi4-rm520n-mm", bus.address)
    mm = checks["ModemManager"]
    assert mm["status"] == "fail" and "ModemManager is not running" in mm["reason"]
    assert "systemctl enable --now ModemManager" in mm["fix"]
    assert checks["modem port"]["status"] == "fail"
    assert checks["SIM"]["status"] == "skip"
