"""`qiyas server --listen HOST[:PORT]`: the measurement server, until stopped (SIGINT/SIGTERM).

STAMP (UDP) and the capacity endpoint (TCP) share the port, 8620 unless given; the HTTP side
(reference web page, video ladder: agent/probe/webserver.py) has its own, the next one (8621).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING

from agent.probe.endpoint import DEFAULT_PORT

if TYPE_CHECKING:
    from agent.probe.server import MeasurementServer
    from agent.probe.webserver import WebServer


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        required=True,
        metavar="HOST[:PORT]",
        help=f"address to serve on; port {DEFAULT_PORT} unless given (0: any free port)",
    )
    parser.add_argument("--max-duration", type=float, default=30.0, metavar="S")
    parser.add_argument("--max-sessions", type=int, default=16, metavar="N")
    parser.add_argument("--max-sessions-per-client", type=int, default=2, metavar="N")
    parser.add_argument(
        "--max-mbps", type=float, default=0.0, metavar="MBIT", help="per session; 0: no cap"
    )
    parser.add_argument("--stamp-pps", type=float, default=2000.0, metavar="N", help="per client")
    parser.add_argument(
        "--web-port",
        type=int,
        metavar="PORT",
        help="HTTP side; the port after --listen's unless given (any free one when that is 0)",
    )
    parser.add_argument(
        "--web-hosts",
        default="",
        metavar="NAME,…",
        help="host names of this server the reference page spreads its objects over",
    )
    parser.add_argument("--verbose", action="store_true", help="log every session")
    parser.add_argument(
        "--json", action="store_true", help="print where it listens as JSON once ready"
    )


def run(args: argparse.Namespace) -> int:
    from agent.probe import control
    from agent.probe.endpoint import parse_endpoint
    from agent.probe.server import Limits, MeasurementServer
    from agent.probe.webserver import WebServer

    try:
        where = parse_endpoint(args.listen, DEFAULT_PORT, any_port=True)
    except ValueError as exc:
        return _usage(str(exc))
    checks = (
        ("--max-duration", args.max_duration, 1, control.MAX_DURATION_MS / 1000),
        ("--max-sessions", args.max_sessions, 1, 10_000),
        ("--max-sessions-per-client", args.max_sessions_per_client, 1, 1000),
        ("--max-mbps", args.max_mbps, 0, 1_000_000),
        ("--stamp-pps", args.stamp_pps, 1, 1_000_000),
        ("--web-port", args.web_port, 0, 65535),
    )
    if args.web_port is None:
        args.web_port = where.port + 1 if where.port else 0
    for name, value, lo, hi in checks:
        if value is not None and not lo <= value <= hi:
            return _usage(f"{name} must be in {lo:g}..{hi:g}")
    limits = Limits(
        max_duration_s=args.max_duration,
        max_sessions=args.max_sessions,
        max_sessions_per_client=args.max_sessions_per_client,
        max_mbps_per_session=args.max_mbps,
        stamp_pps_per_client=args.stamp_pps,
    )
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s qiyas server: %(message)s",
    )
    hosts = [name for name in args.web_hosts.split(",") if name]
    if any(len(n) > 253 or not n.replace("-", "").replace(".", "").isalnum() for n in hosts):
        return _usage("--web-hosts must be host names, separated by commas")
    web = WebServer(where.host, args.web_port, hosts)
    return asyncio.run(_serve(MeasurementServer(where.host, where.port, limits), web, args.json))


def _usage(text: str) -> int:
    print(f"qiyas server: {text}", file=sys.stderr)
    return 2


async def _serve(server: MeasurementServer, web: WebServer, as_json: bool) -> int:
    for part in (server, web):
        try:
            await part.start()
        except OSError as exc:
            print(
                f"qiyas server: cannot listen on {part.host}:{part.requested_port}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            await server.aclose()
            return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if as_json:
        where = {"host": server.host, "port": server.port, "web_port": web.port}
        print(json.dumps(where), flush=True)
    print(
        f"qiyas server: listening on {server.host}:{server.port} (STAMP on UDP, capacity on TCP),"
        f" web page and video on {web.port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await web.aclose()
        await server.aclose()
    return 0
