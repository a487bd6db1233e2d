"""`qiyas collector run`: the ingest process, stopped cleanly by SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from agent.cli_contract import UsageError
from collector.broker import BrokerURLError, parse_broker
from collector.cli_common import open_store_or_fail
from collector.ingest import Collector


def run_collector(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.logging import RichHandler

    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    try:
        broker = parse_broker(args.broker, args.ca, args.cert, args.key)
    except BrokerURLError as exc:
        raise UsageError(str(exc)) from None
    handler = RichHandler(console=Console(stderr=True))
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler])
    store = open_store_or_fail(args.db)
    collector = Collector(
        store, broker, args.client_id, batch_size=args.batch_size, feed=not args.no_feed
    )
    try:
        asyncio.run(_until_signalled(collector))
    finally:
        store.close()
    s = collector.stats
    logging.getLogger("qiyas.collector").info(
        "stopped: %d stored, %d duplicates, %d quarantined", s.stored, s.duplicates, s.quarantined
    )
    return 0


async def _until_signalled(collector: Collector) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    progress = asyncio.create_task(_report_progress(collector, stop))
    await collector.run(stop)
    await progress


async def _report_progress(collector: Collector, stop: asyncio.Event, every_s: float = 10) -> None:
    """A line every every_s seconds while records arrive, so an operator sees it working."""
    log = logging.getLogger("qiyas.collector")
    shown = (0, 0, 0)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        s = collector.stats
        now = (s.stored, s.duplicates, s.quarantined)
        if now != shown:
            log.info("%d stored, %d duplicates, %d quarantined so far", *now)
            shown = now
