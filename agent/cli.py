"""`qiyas agent run|once -c FILE`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from agent.cli_contract import UsageError

if TYPE_CHECKING:
    from agent.supervisor import Agent


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mode", required=True)
    run = sub.add_parser("run", help="measure on schedule until stopped (SIGTERM/SIGINT)")
    once = sub.add_parser("once", help="one full measurement cycle, delivered, then exit")
    for p in (run, once):
        p.add_argument("-c", "--config", required=True, help="agent config (TOML)")
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    once.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for acks")
    once.add_argument("--json", action="store_true", help="print a JSON summary")


def setup_logging(level: str) -> None:
    # One readable line per event, for a technician reading journalctl or the console; the
    # journal stamps each line itself (JOURNAL_STREAM is set when stderr goes there).
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format=stamp + "%(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    from agent import config as config_mod
    from agent.boards import BoardError
    from agent.keys import KeyFileError
    from agent.supervisor import Agent

    setup_logging(args.log_level)
    try:
        cfg = config_mod.load(args.config)
        agent = Agent(cfg)
    except (config_mod.ConfigError, BoardError, KeyFileError) as exc:
        raise UsageError(str(exc)) from None
    if args.mode == "run":
        asyncio.run(_run_until_signal(agent))
        return 0
    drained = asyncio.run(agent.once(args.timeout))
    if args.json:
        summary = {
            "probe": cfg.probe_id,
            "issued": agent.outbox.issued,
            "acknowledged": agent.uplink.acknowledged,
            "pending": agent.outbox.depth,
            "delivered": drained,
        }
        print(json.dumps(summary))
    return 0 if drained else 1


async def _run_until_signal(agent: Agent) -> None:
    from agent import sdnotify

    stop = asyncio.Event()

    def stopping() -> None:
        sdnotify.notify("STOPPING=1")
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping)
    watchdog = asyncio.create_task(sdnotify.keep_alive(stop))
    sdnotify.notify("READY=1")
    await agent.run(stop)
    await watchdog
