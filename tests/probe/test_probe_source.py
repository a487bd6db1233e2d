"""The agent's probe sources: `[probe]` checked with errors naming the key, records that the
schema accepts, and the cross-traffic pause on a real shaped link."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycddl
import pytest

from agent import config
from agent.activerun import ActiveRunner
from agent.boards import Board
from agent.core import record
from agent.fleetplan import Due
from agent.probe import control, crosstraffic, validity
from agent.probe.capacity import measure_direction
from agent.probe.endpoint import Endpoint
from agent.probe.server import MeasurementServer
from agent.probe.source import ProbeSettings, make_capacity, make_dns, make_latency
from agent.sources import LinkState, Measurement
from hil.link import ShapedLink
from hil.link.serve import start_server

SCHEMA = pycddl.Schema((Path(record.__file__).parent / "record.cddl").read_text())
BOARD = Board("test", {})
VERSIONS = {"agent": "test", "board": "test", "firmware": "test"}
UDP_LINE_OVERHEAD = 8 + 20 + 14  # UDP, IPv4, Ethernet headers on the line


def agent_config(probe: str) -> config.AgentConfig:
    return config.parse(f'probe_id = "p1"\n[probe]\n{probe}\n', "qiyas.toml")


def check_records(measurements: list[Measurement], kind: str) -> list[dict[str, Any]]:
    """Each measurement as the collector will see it: encoded, decoded, valid per the CDDL."""
    out = []
    for seq, m in enumerate(measurements):
        assert m.kind == kind
        raw = record.encode("p1", 1, seq, 0, False, m.kind, m.values, VERSIONS)
        SCHEMA.validate_cbor(raw)
        out.append(record.decode(raw)["values"])
    return out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('servers = "a"', "probe.servers must be a list"),
        ('servers = ["a b"]', "probe.servers has 'a b'"),
        ('servers = ["a:99999"]', "probe.servers has 'a:99999': port must be"),
        ("duration_s = 100", r"probe.duration_s must be a number in 2..30"),
        ("streams = 2.5", "probe.streams must be an integer"),
        ("stamp_count = 0", "probe.stamp_count must be an integer in 1..1000"),
        ('tcp_targets = ["example.net"]', "probe.tcp_targets has 'example.net' without a :PORT"),
        ('dns_targets = ["a/b"]', "probe.dns_targets has 'a/b', which is not a host name"),
        ("cross_traffic_kbps = 500", "probe.interface is needed"),
        ("interface = 3", "probe.interface must be"),
    ],
)
def test_bad_probe_config_is_named(text: str, message: str) -> None:
    with pytest.raises(config.ConfigError, match=f"qiyas.toml: {message}"):
        ProbeSettings(agent_config(text))


def test_measurement_needs_a_configured_server() -> None:
    with pytest.raises(config.ConfigError, match=r"probe\.servers must name at least one"):
        make_latency(agent_config(""), BOARD)
    with pytest.raises(config.ConfigError, match="must name a target"):
        make_dns(agent_config(""), BOARD)


async def test_latency_and_dns_records(server: MeasurementServer) -> None:
    cfg = agent_config(
        f'servers = ["127.0.0.1:{server.port}"]\nstamp_count = 10\nstamp_interval_ms = 5\n'
        f'dns_targets = ["localhost"]\ndns_resolver = "127.0.0.1:1"\n'
        f'tcp_targets = ["127.0.0.1:{server.port}", "127.0.0.1:1"]'
    )
    source = make_latency(cfg, BOARD)
    (lat,) = check_records(await source.measure(LinkState()), "latency")
    assert lat["server"] == f"127.0.0.1:{server.port}"
    assert (lat["sent"], lat["received"], lat["loss"]) == (10, 10, 0.0)
    assert 0 < lat["rtt_ms_min"] <= lat["rtt_ms_median"] <= lat["rtt_ms_p95"] < 50
    resolved, direct, connected, refused = check_records(
        await make_dns(cfg, BOARD).measure(LinkState()), "dns"
    )
    assert resolved["target"] == "localhost" and resolved["addresses"] >= 1
    assert 0 <= resolved["app_resolve_ms"] < 5000
    # The direct query goes to the configured resolver, not through getaddrinfo: none there.
    assert direct["resolver"] == "127.0.0.1:1" and direct["error"] == "Connection refused"
    assert 0 < connected["connect_ms"] < 1000 and "error" not in connected
    assert refused["error"] == "Connection refused" and "connect_ms" not in refused


async def test_capacity_record(server: MeasurementServer) -> None:
    cfg = agent_config(f'servers = ["127.0.0.1:{server.port}"]\nduration_s = 2\nstreams = 2')
    (cap,) = check_records(await make_capacity(cfg, BOARD).measure(LinkState()), "capacity")
    for direction in ("down", "up"):
        assert cap[f"{direction}_mbps"] > 100
        assert cap[f"{direction}_bytes"] > 0
        assert cap[f"{direction}_warmup_s"] >= 0.5
        assert len(cap[f"{direction}_series_mbps"]) >= 10
        assert cap[f"loaded_rtt_ms_median_{direction}"] is not None
    assert cap["streams"] == 2 and cap["rtt_ms_median_idle"] > 0


async def test_capacity_tries_the_next_server_when_one_refuses(server: MeasurementServer) -> None:
    cfg = agent_config(
        f'servers = ["127.0.0.1:1", "127.0.0.1:{server.port}"]\nduration_s = 2\nstreams = 1\n'
        "stamp_interval_ms = 5"
    )
    (cap,) = check_records(await make_capacity(cfg, BOARD).measure(LinkState()), "capacity")
    assert cap["server"] == f"127.0.0.1:{server.port}" and cap["down_mbps"] > 0


@pytest.mark.netns
def test_household_traffic_pauses_a_capacity_test(link20: ShapedLink, server20: int) -> None:
    cfg = agent_config(
        f'servers = ["{link20.addr_b}:{server20}"]\n'
        f'cross_traffic_kbps = 2000\ninterface = "{link20.iface}"'
    )

    async def household_downloads_meanwhile() -> list[Measurement]:
        started = asyncio.Event()
        download = asyncio.create_task(
            measure_direction(
                Endpoint(link20.addr_b, server20), control.DOWN, 2, 3.0, lambda t, m: started.set()
            )
        )
        await asyncio.wait_for(started.wait(), 10)
        try:
            return await make_capacity(cfg, BOARD).measure(LinkState())
        finally:
            await download

    # Inside the household namespace, so the counters are those of its side of the link.
    (cap,) = check_records(
        link20.call("a", asyncio.run, household_downloads_meanwhile()), "capacity"
    )
    assert cap["skipped"] == "cross-traffic"
    assert 10 < cap["cross_traffic_mbps"] < 25  # the 20 Mbit/s download, plus its ACKs
    assert "down_mbps" not in cap


class MemoryMeta:
    """The outbox's metadata, in memory (the budget's month and use)."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def meta(self, key: str) -> int:
        return self.values.get(key, 0)

    def set_meta(self, key: str, value: int) -> None:
        self.values[key] = value


async def capacity_with_retries(
    cfg: config.AgentConfig,
) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """One due capacity run through the agent's active-test runner; what it committed."""
    committed: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    async def no_link() -> tuple[None, None]:
        return None, None

    runner = ActiveRunner(
        cfg,
        {"capacity": make_capacity(cfg, BOARD)},
        LinkState(),
        no_link,
        lambda kind, values, extra: committed.append((kind, values, extra)),
        MemoryMeta(),
        retry_first_s=0.5,
    )
    plan = runner.plan("capacity", 3600)
    now = time.time()
    await runner.run_due("capacity", plan, Due(now, plan.is_peak(now), False), asyncio.Event())
    return committed


def wire_like(link: ShapedLink) -> None:
    """Offloads off on both ends of the veth, so each side's counters count every segment with
    its headers, as a router's WAN port does (with TSO/GRO a veth counts one header per burst)."""
    for side in ("a", "b"):
        off = ["ethtool", "-K", link.iface, "tso", "off", "gso", "off", "gro", "off"]
        link.run(side, off, check=True, capture_output=True)


def in_thread(link: ShapedLink, side: str, body: Callable[[], Any]) -> threading.Thread:
    """body run inside one side's namespace on a thread of its own, started."""
    thread = threading.Thread(target=link.call, args=(side, body), daemon=True)
    thread.start()
    return thread


@pytest.mark.netns
def test_household_traffic_during_a_capacity_test_is_counted_flagged_and_retried() -> None:
    """A UDP flow from the far side to the household, 8 Mbit/s for 2 s, started once the
    download is seen on the line: the result counts it within 10 %, is flagged, and the agent's
    runner tries again after its back-off (0.5 s here, 60 s by default); the retry says why."""
    with ShapedLink(40, queue_ms=50) as link:
        wire_like(link)
        proc, port = start_server(link)
        try:
            cfg = agent_config(
                f'servers = ["{link.addr_b}:{port}"]\nduration_s = 6\nstreams = 4\n'
                f'interface = "{link.iface}"'
            )
            sink = link.call("a", socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind((link.addr_a, 0))
            sink.settimeout(1.0)
            downloading = threading.Event()
            sent, received = [0], [0]

            def receive() -> None:
                with contextlib.suppress(OSError):
                    while True:
                        received[0] += len(sink.recv(2048)) + UDP_LINE_OVERHEAD

            def watch() -> None:  # side a: the download fills the line (> 20 Mbit/s)
                rx0 = crosstraffic.read_counters(link.iface)[0]
                while not downloading.is_set():
                    time.sleep(0.1)
                    rx1 = crosstraffic.read_counters(link.iface)[0]
                    if (rx1 - rx0) * 8 / 0.1 > 20e6:
                        downloading.set()
                    rx0 = rx1

            def household() -> None:  # side b: 8 Mbit/s for 2 s towards the household
                assert downloading.wait(30)
                out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                start = time.monotonic()
                for k in range(1667):
                    time.sleep(max(0.0, start + k * 0.0012 - time.monotonic()))
                    out.sendto(bytes(1200), (link.addr_a, sink.getsockname()[1]))
                    sent[0] += 1200 + UDP_LINE_OVERHEAD
                out.close()

            threads = [
                in_thread(link, "a", receive),
                in_thread(link, "a", watch),
                in_thread(link, "b", household),
            ]
            committed = link.call("a", asyncio.run, capacity_with_retries(cfg))
            downloading.set()
            sink.close()
            for thread in threads:
                thread.join(10)
        finally:
            proc.terminate()
            proc.wait(10)
    results = [(v, e) for kind, v, e in committed if kind == "capacity"]
    assert len(results) == 2, committed
    (cap, first), (_, retry) = results
    check_records([Measurement("capacity", cap)], "capacity")
    assert first is not None and retry is not None
    assert first["validity"]["verdict"] == "flagged"
    assert "cross-traffic" in first["validity"]["reasons"]
    assert first["queue"]["attempt"] == 1
    assert retry["queue"]["attempt"] == 2 and retry["queue"]["retry_reason"] == "cross-traffic"
    assert retry["started_ms"] >= first["started_ms"] + first["duration_ms"] + 500
    assert cap["cross_traffic_vantage"] == "wan-interface"
    # The household's flow, counted from the line less the test's own bytes, within 10 %.
    assert cap["cross_traffic_bytes_down"] == pytest.approx(received[0], rel=0.10), (
        sent[0],
        received[0],
        cap,
    )
    assert received[0] == pytest.approx(sent[0], rel=0.10)  # the shaper dropped little of it
    # Nothing else ran during the upload: what is left is the model's error (bytes still in
    # flight when the counts are read, ~1 %), well under the 5 % that flags a result.
    assert cap["cross_traffic_bytes_up"] < 0.02 * cap["up_test_line_bytes"], cap
    reasons = validity.capacity_reasons(cap)
    assert "cross-traffic" in reasons and "cross-traffic-unknown" not in reasons
