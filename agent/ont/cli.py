"""`qiyas ont info --transport udp://HOST:PORT|eth:IFACE [--pcap FILE] [--json]`: poll an ONT once.
`qiyas ont info --source sfp --iface IFACE | --eeprom FILE [--json]`: an SFP ONT stick's own
diagnostics (SFF-8472), read with ethtool or from a saved `ethtool -m` dump.
`qiyas ont info --source stick-shell --host HOST --dialect lantiq|realtek [--user U] [--port P]
[--identity KEY] [--known-hosts FILE] [--ssh-config FILE] [--json]`: the stick's own readings
through its shell over SSH (agent/ont/stick_shell.py), keys only.

Exit 0 with a reading, 1 when the ONT did not give one (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    info = sub.add_parser("info", help="identity, software and optical health of the ONT")
    info.add_argument(
        "--source", choices=("omci", "sfp", "stick-shell"), default="omci",
        help="omci: the ONT's management channel (default); sfp: an SFP stick's diagnostics; "
        "stick-shell: the stick's own readings through its shell over SSH",
    )  # fmt: skip
    info.add_argument("--transport", help="omci: udp://HOST:PORT or eth:IFACE")
    info.add_argument("--iface", help="sfp: the interface the stick is plugged into")
    info.add_argument("--eeprom", help="sfp: decode this saved `ethtool -m` dump (raw or hex)")
    info.add_argument("--pcap", help="also write the OMCI exchange to this pcap file")
    stick = info.add_argument_group("stick-shell")
    stick.add_argument("--host", help="the stick's management address")
    stick.add_argument("--dialect", choices=("lantiq", "realtek"), help="the stick's ONU stack")
    stick.add_argument("--user", default="root", help="SSH user (root)")
    stick.add_argument("--port", type=int, default=22, help="SSH port (22)")
    stick.add_argument("--identity", help="SSH private key file")
    stick.add_argument("--known-hosts", help="known_hosts file with the stick's host key")
    stick.add_argument("--ssh-config", help="ssh_config file (default: the client's own)")
    info.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    info.add_argument(
        "--timeout", type=float, help="seconds per request (omci 1.0, stick-shell 10)"
    )
    info.add_argument("--retries", type=int, default=2, help="retransmissions per request (2)")
    message_set = info.add_mutually_exclusive_group()
    message_set.add_argument(
        "--extended", dest="extended", action="store_true", default=None,
        help="use the extended message set (default: as the ONU2-G OMCC version says)",
    )  # fmt: skip
    message_set.add_argument(
        "--baseline", dest="extended", action="store_false", help="use only baseline messages"
    )


def _show(reading: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="ONT", show_header=False)
    for key in ("vendor_id", "serial_number", "version", "equipment_id"):
        table.add_row(key, str(reading.get(key)))
    for image in reading["software"]:
        flags = [f for f in ("active", "committed", "valid") if image.get(f)]
        table.add_row(f"software {image['instance']}", f"{image['version']} ({', '.join(flags)})")
    for key, value in reading["optical"].items():
        table.add_row(key, "—" if value is None else str(value))
    for key, value in (reading.get("fec") or {}).items():
        table.add_row(f"fec {key}", str(value))
    table.add_row("alarms", ", ".join(reading["alarms"]) or "none")
    omci = reading["omci"]
    table.add_row("omci frames", f"{omci['frames_sent']} sent, {omci['frames_received']} received, "
                  f"{omci['retransmitted']} retransmitted, {omci['dropped']} dropped")  # fmt: skip
    Console(stderr=True).print(table)


def _show_sfp(reading: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="SFP module (SFF-8472)", show_header=False)
    for key, value in reading.items():
        if key != "thresholds":
            table.add_row(key, "—" if value is None else str(value))
    for key, value in reading["thresholds"].items():
        table.add_row(f"threshold {key}", "—" if value is None else str(value))
    Console(stderr=True).print(table)


def _run_sfp(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.cli_contract import UsageError
    from agent.ont import sfp

    if (args.iface is None) == (args.eeprom is None):
        raise UsageError("--source sfp needs --iface IFACE or --eeprom FILE")
    try:
        if args.eeprom is not None:
            try:
                eeprom = sfp.parse_dump(Path(args.eeprom).read_bytes()[: 64 * 1024])
            except OSError as exc:
                raise UsageError(f"--eeprom {args.eeprom}: {exc.strerror or exc}") from None
        else:
            eeprom = asyncio.run(sfp.read_module_eeprom(args.iface))
        reading = sfp.decode(eeprom)
    except sfp.EepromError as exc:
        return _failed(args, exc)
    return _report(args, reading, _show_sfp)


def _failed(args: argparse.Namespace, exc: Exception) -> int:
    if args.json:
        print(json.dumps({"error": str(exc)}))
    print(f"qiyas ont info: {exc}", file=sys.stderr)
    return 1


def _report(
    args: argparse.Namespace, reading: dict[str, Any], show: Callable[[dict[str, Any]], None]
) -> int:
    if args.json:
        print(json.dumps(reading))
    else:
        show(reading)
    return 0


def _show_stick(reading: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"SFP ONT stick ({reading['dialect']} shell)", show_header=False)
    for key in ("ploam_state", "signal_detect", "olt_vendor_id"):
        if key in reading:
            table.add_row(key, str(reading[key]))
    for key, value in reading["optical"].items():
        why = reading["unknown"].get(key)
        table.add_row(key, str(value) if value is not None else f"— ({why})" if why else "—")
    Console(stderr=True).print(table)


def _run_stick(args: argparse.Namespace) -> int:
    from agent.cli_contract import UsageError
    from agent.ont import stick_shell, stick_source
    from agent.ont.stick_ssh import SshTarget, StickShellError

    if args.host is None or args.dialect is None:
        raise UsageError("--source stick-shell needs --host HOST and --dialect lantiq|realtek")
    timeout_s = 10.0 if args.timeout is None else args.timeout
    target = SshTarget(args.host, args.user, args.port, args.identity, args.known_hosts,
                       args.ssh_config, timeout_s)  # fmt: skip
    try:
        target.check()
    except StickShellError as exc:
        raise UsageError(str(exc)) from None
    try:
        reading = asyncio.run(stick_source.read(target, args.dialect))
    except (StickShellError, stick_shell.ShellOutputError) as exc:
        return _failed(args, exc)
    return _report(args, reading, _show_stick)


def run(args: argparse.Namespace) -> int:
    if args.source == "sfp":
        return _run_sfp(args)
    if args.source == "stick-shell":
        return _run_stick(args)
    return _run_omci(args)


def _run_omci(args: argparse.Namespace) -> int:
    from agent.cli_contract import UsageError
    from agent.ont.driver import poll_ont
    from agent.ont.session import OmciError
    from agent.ont.transport import TransportError

    if args.transport is None:
        raise UsageError("--source omci needs --transport udp://HOST:PORT or eth:IFACE")
    if args.timeout is None:
        args.timeout = 1.0
    if not 0.01 <= args.timeout <= 60 or not 0 <= args.retries <= 10:
        raise UsageError("--timeout must be 0.01..60 seconds and --retries 0..10")
    from rich.console import Console

    poll = poll_ont(
        args.transport,
        pcap=args.pcap,
        timeout_s=args.timeout,
        retries=args.retries,
        extended=args.extended,
    )
    try:
        with Console(stderr=True).status(f"polling the ONT at {args.transport} over OMCI…"):
            reading, runner = asyncio.run(poll)
    except (TransportError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except OmciError as exc:
        return _failed(args, exc)
    s = runner.stats
    reading["omci"] = {
        "frames_sent": s.sent,
        "frames_received": s.received,
        "retransmitted": s.retransmitted,
        "dropped": s.dropped,
        "notifications": s.notifications,
    }
    return _report(args, reading, _show)
