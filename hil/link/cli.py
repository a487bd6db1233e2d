"""`qiyas hil link`: build a shaped link between two namespaces and keep it until stopped."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate", type=float, default=None, metavar="MBIT", help="both directions (default: none)"
    )
    parser.add_argument("--up-rate", type=float, default=None, metavar="MBIT")
    parser.add_argument(
        "--queue-ms", type=float, default=50.0, help="tbf queue depth as delay (default 50)"
    )
    parser.add_argument("--json", action="store_true", help="print where to reach it as JSON")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from hil.link import LinkError, ShapedLink

    try:
        link = ShapedLink(args.rate, args.queue_ms, args.up_rate)
    except ValueError as exc:
        print(f"qiyas hil link: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        link.up()
    except LinkError as exc:
        print(f"qiyas hil link: {exc} (needs root and iproute2)", file=sys.stderr)
        return 1
    try:
        where = {
            "household": {"netns": link.ns_a, "address": link.addr_a},
            "server": {"netns": link.ns_b, "address": link.addr_b},
            "down_mbit": link.rate_down_mbit,
            "up_mbit": link.rate_up_mbit,
            "queue_ms": link.queue_ms,
        }
        if args.json:
            print(json.dumps(where), flush=True)
        else:
            err = Console(stderr=True)
            err.print(
                f"shaped link up: [bold]{link.ns_a}[/] {link.addr_a} ⇄ "
                f"[bold]{link.ns_b}[/] {link.addr_b}, down {link.rate_down_mbit} / up "
                f"{link.rate_up_mbit} Mbit/s, queue {link.queue_ms} ms"
            )
            err.print(f"  e.g. ip netns exec {link.ns_b} qiyas server --listen {link.addr_b}")
            err.print(f"       ip netns exec {link.ns_a} qiyas probe all --server {link.addr_b}")
            err.print("Ctrl-C removes it.")
        stop.wait()
    finally:
        link.down()
    return 0
