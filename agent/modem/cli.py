"""`qiyas modem info --port PORT [--dialect NAME|auto] [--baud N] [--json]`: poll a modem once.

`--source modemmanager` reads the same snapshot from ModemManager over the system D-Bus instead
(the modem whose ports include --port, or the only one), for boards where ModemManager owns it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from agent.boards import MODEM_SOURCES
from agent.core import dialects

if TYPE_CHECKING:
    from agent.modem.source import RadioDriver


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    info = sub.add_parser("info", help="identify the modem and read its radio state once")
    info.add_argument(
        "--source", default="at", choices=MODEM_SOURCES, help="our AT driver, or ModemManager"
    )
    info.add_argument(
        "--port",
        help="device path, /dev/serial/by-id/… or pyserial URL (with --source modemmanager: "
        "which modem, when ModemManager has several)",
    )
    info.add_argument("--dialect", default="auto", choices=("auto", *dialects.NAMES))
    info.add_argument("--baud", type=int, default=115200)
    info.add_argument("--timeout", type=float, default=5.0, help="longest wait for one answer (s)")
    info.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from agent.cli_contract import UsageError
    from agent.modem.driver import ModemDriver, ModemSettings, port_exists

    if not 0.1 <= args.timeout <= 300:
        raise UsageError("--timeout must be 0.1..300 seconds")
    if args.source == "modemmanager":
        from agent.modem.modemmanager import ModemManagerDriver, ModemManagerSettings

        driver: RadioDriver = ModemManagerDriver(
            ModemManagerSettings(args.port, timeout_s=args.timeout, signal_wait_s=args.timeout)
        )
        where = "ModemManager" if args.port is None else f"ModemManager ({args.port})"
        return _report(args, driver, where)
    if args.port is None:
        raise UsageError("--port is needed for --source at")
    if not port_exists(args.port):
        raise UsageError(
            f"no such port {args.port!r} (is the modem plugged in? see /dev/serial/by-id/)"
        )
    if not 1200 <= args.baud <= 4_000_000:
        raise UsageError(f"--baud {args.baud} is not a serial speed")
    settings = ModemSettings(
        args.port, args.baud, args.dialect, boot_wait_s=0.0, command_timeout_s=args.timeout
    )
    return _report(args, ModemDriver(settings), args.port)


def _report(args: argparse.Namespace, driver: RadioDriver, where: str) -> int:
    from agent.modem.driver import ModemDown

    try:
        if args.json:
            snapshot = asyncio.run(_info(driver))
        else:
            with _console().status(f"polling the modem on {where} …"):
                snapshot = asyncio.run(_info(driver))
    except ModemDown as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        _console().print(f"[red]modem on {where} is not answering:[/] {exc}")
        return 1
    if args.json:
        print(json.dumps(snapshot))
    else:
        _show(snapshot)
    return 0


async def _info(driver: RadioDriver) -> dict[str, Any]:
    try:
        return await driver.poll()
    finally:
        await driver.aclose()


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


def _show(snapshot: dict[str, Any]) -> None:
    from rich.table import Table

    def text(value: Any) -> str:
        return "—" if value is None else str(value)

    head = Table(show_header=False, box=None)
    maker, model = text(snapshot["manufacturer"]), text(snapshot["model"])
    head.add_row("modem", f"{maker} {model} ({text(snapshot['revision'])})")
    head.add_row("dialect", text(snapshot["dialect"]))
    head.add_row("SIM", text(snapshot["sim"]["status"]))
    reg = snapshot["registration"]
    head.add_row("registration", f"{text(reg['state'])} on {text(reg['tech'])}")
    op = snapshot["operator"]
    head.add_row("operator", f"{text(op['name'])} ({text(op['mcc'])}-{text(op['mnc'])})")
    head.add_row("temperature", f"{text(snapshot['temperature_c'])} °C")
    cells = Table(title="cells")
    legs = [("serving", snapshot["serving_cell"])]
    if snapshot["nr"] is not None:
        legs.append(("NR leg", snapshot["nr"]))
    cells.add_column("")
    for title, _ in legs:
        cells.add_column(title)
    for key in snapshot["serving_cell"]:
        cells.add_row(key, *(text(leg[key]) for _, leg in legs))
    console = _console()
    console.print(head)
    console.print(cells)
    reasons = snapshot.get("null_reasons")
    if reasons:  # the modemmanager source says why each "—" is one
        why = Table(title="why not known", show_header=False)
        for path, reason in reasons.items():
            why.add_row(path, reason)
        console.print(why)
