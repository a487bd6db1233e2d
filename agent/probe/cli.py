"""`qiyas probe latency|capacity|all|web --server HOST[:PORT]`: one-off measurements.

`web` loads the server's reference page (`--url` for another page), see docs/qoe.md §3: `web`
{dns_ms, connect_ms, tls_ms, ttfb_ms, load_ms, objects, objects_failed, bytes, …}.

--json prints one object: `latency` {rtt_ms {min, median, p95}, rtt_ipdv_ms, rtt_pdv_ms,
invalid_by_loss, loss},
`capacity` {down_mbps, up_mbps, streams, duration_s, down {…}, up {…}} and `loaded_latency`
{down {rtt_ms_median}, up {rtt_ms_median}}, those that were measured, plus `errors` if any.
Exit 1 when a measurement failed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.probe.endpoint import DEFAULT_PORT

MAX_DURATION_S = 60.0
MIN_DURATION_S = 1.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("latency", "capacity", "all", "web"))
    parser.add_argument(
        "--server",
        required=True,
        metavar="HOST[:PORT]",
        help=f"measurement server (`qiyas server`); port {DEFAULT_PORT} unless given",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, metavar="S", help="per direction (default 10)"
    )
    parser.add_argument("--streams", type=int, default=4, metavar="N", help="TCP streams (4)")
    parser.add_argument("--count", type=int, default=50, metavar="N", help="STAMP packets (50)")
    parser.add_argument(
        "--interval", type=float, default=20.0, metavar="MS", help="between STAMP packets (20)"
    )
    parser.add_argument(
        "--url", help="web: the page to load (default: the server's reference page, PORT+1)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _usage(text: str) -> int:
    print(f"qiyas probe: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from agent.probe import control, latency
    from agent.probe.endpoint import parse_endpoint
    from agent.probe.suite import run_suite

    try:
        server = parse_endpoint(args.server)
    except ValueError as exc:
        return _usage(str(exc))
    checks = (
        ("--duration", args.duration, MIN_DURATION_S, MAX_DURATION_S),
        ("--streams", args.streams, 1, control.MAX_STREAMS),
        ("--count", args.count, 1, latency.MAX_COUNT),
        ("--interval", args.interval, latency.MIN_INTERVAL_S * 1000, 10_000),
    )
    for name, value, lo, hi in checks:
        if not lo <= value <= hi:
            return _usage(f"{name} must be in {lo:g}..{hi:g}")
    if args.what == "web":
        result = asyncio.run(_web(server, args.url))
        if args.json:
            print(json.dumps(result))
        else:
            _print_table(result)
        return 1 if result.get("errors") else 0
    with _Display(enabled=not args.json) as display:
        result = asyncio.run(
            run_suite(
                server,
                latency=args.what in ("latency", "all"),
                capacity=args.what in ("capacity", "all"),
                duration_s=args.duration,
                streams=args.streams,
                stamp_count=args.count,
                stamp_interval_s=args.interval / 1000,
                progress=display.update,
            )
        )
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 1 if result.get("errors") else 0


async def _web(server: Any, url: str | None) -> dict[str, Any]:
    from agent.probe import web, webserver

    if url is None:
        host = f"[{server.host}]" if ":" in server.host else server.host
        url = f"http://{host}:{server.port + 1}/{webserver.PAGE}/"
    out: dict[str, Any] = {"server": str(server)}
    try:
        out["web"] = await web.fetch_page(url)
    except web.WebError as exc:
        out["errors"] = [f"web: {exc}"]
    return out


class _Display:
    """A rich status line on stderr: the phase and, for capacity, the current rate."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._status: Any = None

    def __enter__(self) -> _Display:
        if self.enabled:
            from rich.console import Console

            self._status = Console(stderr=True).status("starting")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def update(self, phase: str, elapsed: float, mbps: float | None) -> None:
        if self._status is None:
            return
        if mbps is None:
            self._status.update(f"{phase}: measuring")
        else:
            self._status.update(f"capacity {phase}: {elapsed:4.1f} s, {mbps:9.2f} Mbit/s")


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Qiyas probe → {result['server']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    lat = result.get("latency")
    if lat:
        for key in ("min", "median", "p95"):
            table.add_row(f"idle RTT {key}", _fmt(lat["rtt_ms"][key], " ms"))
        table.add_row("round-trip IPDV (mean)", _fmt(lat["rtt_ipdv_ms"], " ms"))
        table.add_row("round-trip PDV (p95 − min)", _fmt(lat["rtt_pdv_ms"], " ms"))
        table.add_row("loss", _fmt(None if lat["loss"] is None else lat["loss"] * 100, " %"))
    cap = result.get("capacity", {})
    loaded = result.get("loaded_latency", {})
    for name in ("down", "up"):
        if f"{name}_mbps" in cap:
            table.add_row(f"{name}load", _fmt(cap[f"{name}_mbps"], " Mbit/s"))
        if name in loaded:
            rtt = loaded[name]["rtt_ms_median"]
            table.add_row(f"RTT median during {name}load", _fmt(rtt, " ms"))
    page = result.get("web")
    if page:
        for key in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "load_ms"):
            table.add_row(f"page {key[:-3]}", _fmt(page[key], " ms"))
        table.add_row("objects (failed)", f"{page['objects']} ({page['objects_failed']})")
        table.add_row("bytes", _fmt(page["bytes"]))
    console = Console(stderr=True)
    console.print(table)
    for failure in (page or {}).get("errors", []):
        console.print(f"[yellow]object failed:[/] {failure['url']}: {failure['error']}")
    for error in result.get("errors", []):
        console.print(f"[red]failed:[/] {error}")
