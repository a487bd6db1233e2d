"""Beside ModemManager: does it hold the modem's AT port, and what to do about it.

ModemManager (on Raspberry Pi OS and many routers) opens every modem port it finds and sends its
own AT commands there: an agent reading the same port takes answers meant for ModemManager and
loses its own. Whether ModemManager uses the port is read from ModemManager itself, over the
system D-Bus: its Modem.Ports property lists each port it manages with its type, and a port
tagged ID_MM_PORT_IGNORE is listed as "ignored" (MMModemPortType 9) or not at all.

The fix is one of two, and the check gives both exactly: a udev rule that tags the AT port
ID_MM_PORT_IGNORE, written the way ModemManager's own rules are (src/plugins/*/77-mm-*-port-
types.rules of linux-mobile-broadband/ModemManager: the USB interface number taken from
bInterfaceNumber, then matched with the device's idVendor/idProduct), with this modem's ids read
from sysfs; or the board profile's `[modem] source = "modemmanager"`, to read through it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tools.doctor.results import FAIL, SKIP, Context, Result, passed

SYSFS = Path("/sys")
RULE_FILE = "/etc/udev/rules.d/77-qiyas-modem.rules"
CHECK = "ModemManager"
MAX_DEPTH = 8  # from a tty's device up to its USB interface: 1 (ttyACM) or 2 (ttyUSB) levels


def usb_ids(tty: str, sysfs: Path = SYSFS) -> tuple[str, str, str] | None:
    """(idVendor, idProduct, bInterfaceNumber) of the USB interface a tty belongs to, from
    /sys/class/tty/NAME/device upwards (Documentation/ABI/stable/sysfs-bus-usb); None when the
    tty is not on USB (a UART) or sysfs does not say."""
    try:
        here = (sysfs / "class" / "tty" / tty / "device").resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    for _ in range(MAX_DEPTH):
        number = here / "bInterfaceNumber"
        if number.is_file():
            usb = here.parent
            try:
                ids = [(usb / f).read_text().strip() for f in ("idVendor", "idProduct")]
                interface = number.read_text().strip()
            except OSError:
                return None
            if all(_hex(i, 4) for i in ids) and _hex(interface, 2):
                return ids[0], ids[1], interface
            return None
        if here.parent == here or here == sysfs:
            return None
        here = here.parent
    return None


def _hex(text: str, digits: int) -> bool:
    return len(text) == digits and all(c in "0123456789abcdef" for c in text)


def ignore_rule(tty: str, ids: tuple[str, str, str] | None) -> str:
    """The udev rule that makes ModemManager leave this one port alone."""
    if ids is None:  # a UART: its kernel name is stable
        return (
            f"# {RULE_FILE}: ModemManager leaves {tty} to the Qiyas agent\n"
            f'SUBSYSTEM=="tty", KERNEL=="{tty}", ENV{{ID_MM_PORT_IGNORE}}="1"\n'
        )
    vendor, product, interface = ids
    return (
        f"# {RULE_FILE}: ModemManager leaves {tty} (USB {vendor}:{product}, interface "
        f"{interface}) to the Qiyas agent\n"
        'ACTION!="add|change|move|bind", GOTO="qiyas_modem_end"\n'
        'SUBSYSTEM!="tty", GOTO="qiyas_modem_end"\n'
        'SUBSYSTEMS=="usb", ATTRS{bInterfaceNumber}=="?*", '
        'ENV{.QIYAS_USBIFNUM}="$attr{bInterfaceNumber}"\n'
        f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}", '
        f'ENV{{.QIYAS_USBIFNUM}}=="{interface}", ENV{{ID_MM_PORT_IGNORE}}="1"\n'
        'LABEL="qiyas_modem_end"\n'
    )


def _describe(path: str, interfaces: dict[str, Any]) -> str:
    from agent.modem.mmsnapshot import MODEM

    modem = interfaces.get(MODEM, {})
    name = " ".join(str(modem.get(k) or "") for k in ("Manufacturer", "Model")).strip()
    return f"modem {path.rsplit('/', 1)[-1]}" + (f" ({name})" if name else "")


async def check_modemmanager(ctx: Context) -> Result:
    if "radio" not in ctx.config.schedule:
        return Result(CHECK, SKIP, "no radio polling in [schedule] (no modem)")
    from agent.modem.modemmanager import Bus, Unavailable, held_ports, managed_modems, port_name
    from agent.modem.source import settings

    port = settings(ctx.config, ctx.board).port
    if "://" in port:
        return Result(CHECK, SKIP, f"{port} is a network port, not one ModemManager can hold")
    tty = port_name(port)
    through_mm = ctx.board.section("modem").get("source") == "modemmanager"
    bus = Bus(timeout_s=5.0)
    try:
        modems = await managed_modems(bus)
    except Unavailable as exc:
        if through_mm:
            return Result(
                CHECK,
                FAIL,
                f"the board reads the modem through ModemManager, but {exc}",
                'sudo systemctl enable --now ModemManager; or set [modem] source = "at" in '
                f"boards/{ctx.board.name}.toml to read the AT port directly",
            )
        return passed(CHECK, f"{tty} is the agent's alone: {exc}")
    finally:
        await bus.close()
    holding = [(p, i) for p, i in modems.items() if tty in held_ports(i)]
    if through_mm:
        if holding:
            return passed(CHECK, f"{_describe(*holding[0])} on {tty}, read through ModemManager")
        listing = "; ".join(
            f"{_describe(p, i)}: {', '.join(held_ports(i))}" for p, i in modems.items()
        )
        return Result(
            CHECK,
            FAIL,
            f"ModemManager manages no modem on {tty} ({listing or 'no modem at all'})",
            "check the modem's USB cable and power (mmcli -L lists what ModemManager sees); "
            "set [modem] port to one of the ports it lists",
        )
    if not holding:
        return passed(CHECK, f"ModemManager is running and leaves {tty} alone")
    rule = ignore_rule(tty, usb_ids(tty))
    return Result(
        CHECK,
        FAIL,
        f"ModemManager holds {tty} ({_describe(*holding[0])}): it sends its own AT commands "
        "there and the agent would take their answers for its own",
        "either let ModemManager leave the port alone: write this rule\n"
        f"{rule}"
        "then: sudo udevadm control --reload-rules && sudo systemctl restart ModemManager; "
        f'or read the modem through ModemManager: set [modem] source = "modemmanager" in '
        f"boards/{ctx.board.name}.toml",
        # the AT checks after this one would poll a port ModemManager is using
        dataclasses.replace(ctx, modem_trouble=f"ModemManager holds {tty}"),
    )


async def check_modem_through_modemmanager(ctx: Context) -> Result:
    """The "modem port" check of a board that reads the modem through ModemManager: one poll
    of the agent's own modemmanager driver, whose snapshot the SIM, registration and signal
    checks then read as they read the AT path's."""
    from agent.modem.driver import ModemDown
    from agent.modem.modemmanager import ModemManagerDriver, ModemManagerSettings
    from agent.modem.source import settings

    port = settings(ctx.config, ctx.board).port
    driver = ModemManagerDriver(ModemManagerSettings(port))
    try:
        snapshot = await driver.poll()
    except ModemDown as exc:
        trouble = "ModemManager gave no snapshot"
        learned = dataclasses.replace(ctx, modem_trouble=trouble)
        return Result("modem port", FAIL, str(exc), "see the ModemManager check", learned)
    finally:
        await driver.aclose()
    s = snapshot
    reason = f"{s['manufacturer']} {s['model']} ({s['revision']}) through ModemManager"
    return passed("modem port", reason)._replace(learned=dataclasses.replace(ctx, modem=s))
