"""The network around the probe: its clock, name resolution, the measurement servers."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime

from tools.doctor.results import FAIL, SKIP, WARN, Context, Result, passed

STAMP_COUNT = 5
DNS_TIMEOUT_S = 10.0


async def check_clock(ctx: Context) -> Result:
    from agent import clock

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if clock.synchronised():
        return passed("clock", f"synchronised ({now})")
    return Result(
        "clock",
        WARN,
        f"not synchronised ({now}): records are kept but flagged",
        "enable NTP: timedatectl set-ntp true (Debian) or uci set system.ntp.enabled=1 "
        "(OpenWrt), and let it reach the network",
    )


def _names(ctx: Context) -> list[str]:
    """The host names the agent will resolve: the broker's and the measurement servers'."""
    from agent.probe.source import ProbeSettings

    hosts = [ctx.config.broker.host]
    hosts += [s.host for s in ProbeSettings(ctx.config).servers]
    return [h for h in dict.fromkeys(hosts) if not _is_address(h)]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return True


async def check_dns(ctx: Context) -> Result:
    names = _names(ctx)
    if not names:
        return Result("DNS", SKIP, "the broker and servers are given as addresses")
    loop = asyncio.get_running_loop()
    for name in names:
        try:
            await asyncio.wait_for(loop.getaddrinfo(name, None), DNS_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            return Result(
                "DNS",
                FAIL,
                f"cannot resolve {name}: {exc}",
                "check the router's DNS servers (/etc/resolv.conf) and the internet link",
            )
    return passed("DNS", f"resolved {', '.join(names)}")


async def check_server(ctx: Context) -> Result:
    from agent.probe.latency import LatencyError, measure_latency
    from agent.probe.source import ProbeSettings

    servers = ProbeSettings(ctx.config).servers
    if not servers:
        return Result("measurement server", SKIP, "no [probe] servers configured")
    results = []
    for server in servers:
        try:
            out = await measure_latency(server, count=STAMP_COUNT, interval_s=0.05)
        except LatencyError as exc:
            out = {"received": 0, "error": str(exc)}
        if not out["received"]:
            why = out.get("error") or ("port unreachable" if out.get("unreachable") else "no reply")
            return Result(
                "measurement server",
                FAIL,
                f"no STAMP reply from {server} ({why})",
                f"check [probe] servers; the router must let UDP and TCP port {server.port} out",
            )
        results.append(f"{server} {out['rtt_ms_median']:.1f} ms")
    return passed("measurement server", ", ".join(results))
