"""`qiyas hil ont --listen udp://HOST:PORT|eth:IFACE [--scenario NAME] [--pcap FILE]`.

Serves until stopped (SIGINT / SIGTERM); the first line of stdout is `{"listen": "..."}` with the
address actually bound (udp://127.0.0.1:0 picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    from hil.ont.emulator import scenario_names

    parser.add_argument("--listen", required=True, help="udp://HOST:PORT or eth:IFACE")
    parser.add_argument(
        "--scenario", default="healthy", help=f"one of: {', '.join(scenario_names())}"
    )
    parser.add_argument("--mib", help="MIB data file (default: hil/ont/mib.json)")
    parser.add_argument("--pcap", help="write the exchanged OMCI frames to this pcap file")


async def _serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.cli_contract import UsageError
    from hil.ont.emulator import Emulator, ScenarioError, load_json, load_scenario
    from hil.ont.server import OntServer

    try:
        scenario = load_scenario(args.scenario)
        mib = load_json(Path(args.mib)) if args.mib else None
        server = OntServer(Emulator(mib, scenario), pcap=args.pcap)
        url = await server.start(args.listen)
    except (ScenarioError, ValueError, KeyError) as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps({"listen": url, "scenario": args.scenario}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        e = server.emulator
        print(
            f"served {e.requests} requests, {e.answers} answered, {e.rejected} rejected",
            file=sys.stderr,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))
