"""`qiyas hil modem --dialect NAME --scenario NAME [--capture NAME]`: an emulated modem on a PTY.

With --capture the modem answers as a real module of the corpus did (tests/modem/captures),
with the scenario's faults on top; --list names the captures too.

Prints {"port": "/dev/pts/N"} (and "link" when --link is given) as the first line of stdout,
then serves until SIGTERM or Ctrl-C. SIGUSR1 power-cycles the modem: that is what a test's
board profile names as its power-cycle command, so the agent's recovery path runs for real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core import dialects

if TYPE_CHECKING:
    from hil.modem.scenario import Scenario


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dialect", default="quectel", choices=dialects.NAMES, help="modem model")
    parser.add_argument("--scenario", default="healthy", help="situation (see --list)")
    parser.add_argument(
        "--link", type=Path, help="keep a symlink to the PTY here (like /dev/serial/by-id)"
    )
    parser.add_argument(
        "--capture", help="answer as this real capture of tests/modem/captures (see --list)"
    )
    parser.add_argument("--list", action="store_true", help="list models and scenarios, then exit")


def run(args: argparse.Namespace) -> int:
    from agent.cli_contract import UsageError
    from hil.modem import captures
    from hil.modem import scenario as scenarios

    if args.list:
        listing = {
            "dialects": scenarios.models(),
            "scenarios": scenarios.situations(),
            "captures": captures.names(),
        }
        print(json.dumps(listing))
        return 0
    try:
        if args.capture:
            if args.capture not in captures.names():
                raise UsageError(f"unknown capture {args.capture!r}; see --list")
            chosen = scenarios.load_capture(args.capture, args.scenario)
        else:
            chosen = scenarios.load(args.dialect, args.scenario)
    except (scenarios.ScenarioError, captures.CaptureError) as exc:
        raise UsageError(str(exc)) from None
    asyncio.run(_serve(chosen, args.link))
    return 0


async def _serve(chosen: Scenario, link: Path | None) -> None:
    from hil.modem.emulator import ModemEmulator

    emulator = ModemEmulator(chosen, link)
    await emulator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, emulator.power_cycle)
    where = {"port": emulator.port}
    if link is not None:
        where["link"] = str(link)
    sys.stdout.write(json.dumps(where) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await emulator.aclose()
