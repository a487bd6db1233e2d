"""`qiyas probe latency|capacity|all|web|streaming --server HOST[:PORT]`: one-off measurements.

`web` loads the server's reference page (`--url` for another page), see docs/qoe.md §3: `web`
{dns_ms, connect_ms, tls_ms, ttfb_ms, load_ms, objects, objects_failed, bytes, …}.
`streaming` plays the server's video ladder for --duration (default 30 s), see docs/qoe.md §4:
`streaming` {startup_ms, bitrate_kbps_mean, bitrate_kbps_max, bitrate_kbps_held, switches,
stalls, stall_ms, played_s, segments, bytes, errors}.

--json prints one object: `latency` {rtt_ms {min, median, p95}, rtt_ipdv_ms, rtt_pdv_ms,
invalid_by_loss, loss},
`capacity` {down_mbps, up_mbps, streams, duration_s, down {…}, up {…}} and `loaded_latency`
{down {rtt_ms_median}, up {rtt_ms_median}}, those that were measured, plus `errors` if any,
and `family`/`address`: the one address every test of the run went to (docs/qoe.md §6).
Exit 1 when a measurement failed. `--family ipv6` on a line without IPv6 prints
{server, family, unavailable: why} and exits 0: a finding, not a failure.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.probe.endpoint import DEFAULT_PORT

MAX_DURATION_S = 60.0
MIN_DURATION_S = 1.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("latency", "capacity", "all", "web", "streaming"))
    parser.add_argument(
        "--server",
        required=True,
        metavar="HOST[:PORT]",
        help=f"measurement server (`qiyas server`); port {DEFAULT_PORT} unless given",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="capacity: per direction (default 10); streaming: the session (default 30)",
    )
    parser.add_argument("--streams", type=int, default=4, metavar="N", help="TCP streams (4)")
    parser.add_argument("--count", type=int, default=50, metavar="N", help="STAMP packets (50)")
    parser.add_argument(
        "--interval", type=float, default=20.0, metavar="MS", help="between STAMP packets (20)"
    )
    parser.add_argument(
        "--url",
        help="web: the page to load (default: the server's reference page, PORT+1);"
        " streaming: the server whose /video/ to play (default: http://HOST:PORT+1)",
    )
    parser.add_argument(
        "--family",
        choices=("ipv4", "ipv6"),
        help="only over this IP family; a line or server without it is reported, not failed",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _usage(text: str) -> int:
    print(f"qiyas probe: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from agent.probe import control, family, latency
    from agent.probe.endpoint import parse_endpoint

    try:
        server = parse_endpoint(args.server)
    except ValueError as exc:
        return _usage(str(exc))
    if args.duration is None:
        args.duration = 30.0 if args.what == "streaming" else 10.0
    checks = (
        ("--duration", args.duration, MIN_DURATION_S, MAX_DURATION_S),
        ("--streams", args.streams, 1, control.MAX_STREAMS),
        ("--count", args.count, 1, latency.MAX_COUNT),
        ("--interval", args.interval, latency.MIN_INTERVAL_S * 1000, 10_000),
    )
    for name, value, lo, hi in checks:
        if not lo <= value <= hi:
            return _usage(f"{name} must be in {lo:g}..{hi:g}")
    pinned, unavailable = asyncio.run(family.pin(server, args.family))
    if pinned is None:
        # Not a failure of the test: the line (or the server) has no such family, and says so.
        missing: dict[str, Any] = {"server": str(server)}
        if args.family is None:
            missing["errors"] = [unavailable]
        else:
            missing.update(family=args.family, unavailable=unavailable)
        print(json.dumps(missing) if args.json else f"qiyas probe: {unavailable}")
        return 1 if args.family is None else 0
    result = _measure(args, pinned)
    result["server"] = str(server)
    result["address"] = pinned.host
    result["family"] = family.family_of(pinned.host)
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 1 if result.get("errors") else 0


def _measure(args: argparse.Namespace, server: Any) -> dict[str, Any]:
    import asyncio

    from agent.probe.suite import run_suite

    if args.what in ("web", "streaming"):
        return asyncio.run(_http_test(args.what, server, args.url, args.duration))
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
    return result


async def _http_test(what: str, server: Any, url: str | None, duration_s: float) -> dict[str, Any]:
    """The web page or the video stream of the server's HTTP side (PORT+1), or of `url`."""
    from agent.probe import streaming, web, webserver

    host = f"[{server.host}]" if ":" in server.host else server.host
    base = f"http://{host}:{server.port + 1}"
    out: dict[str, Any] = {"server": str(server)}
    try:
        if what == "web":
            out["web"] = await web.fetch_page(url or f"{base}/{webserver.PAGE}/")
        else:
            out["streaming"] = await streaming.play(url or base, duration_s)
    except web.WebError as exc:  # StreamingError is one
        out["errors"] = [f"{what}: {exc}"]
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


def _http_rows(table: Any, result: dict[str, Any]) -> list[str]:
    """The web page's and the video's rows; returns the notes to print under the table."""
    notes = []
    page = result.get("web")
    if page:
        for key in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "load_ms"):
            table.add_row(f"page {key[:-3]}", _fmt(page[key], " ms"))
        table.add_row("objects (failed)", f"{page['objects']} ({page['objects_failed']})")
        table.add_row("bytes", _fmt(page["bytes"]))
        notes += [f"[yellow]object failed:[/] {e['url']}: {e['error']}" for e in page["errors"]]
    video = result.get("streaming")
    if video:
        _video_rows(table, video)
        notes += [f"[yellow]video ended early:[/] {error}" for error in video["errors"]]
    return notes


def _video_rows(table: Any, video: dict[str, Any]) -> None:
    table.add_row("video start-up", _fmt(video["startup_ms"], " ms"))
    for key in ("mean", "max", "held"):
        table.add_row(f"video bitrate {key}", _fmt(video[f"bitrate_kbps_{key}"], " kbit/s"))
    table.add_row("video switches", _fmt(video["switches"]))
    table.add_row("video stalls (total)", f"{video['stalls']} ({video['stall_ms']:.0f} ms)")


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
    notes = _http_rows(table, result)
    console = Console(stderr=True)
    console.print(table)
    for note in notes:
        console.print(note)
    for error in result.get("errors", []):
        console.print(f"[red]failed:[/] {error}")
